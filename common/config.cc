#include "common/config.h"

#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/status.h"

namespace eddy {
namespace {

// Debian's Abseil has its own absl::string_view, distinct from std::string_view; Av()
// bridges the two for absl::StrCat and friends.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

constexpr std::string_view kDurationForm = "a duration such as 500ms, 5s, 1min";
constexpr std::string_view kMemorySizeForm = "a memory size such as 32kb, 16mb";

// Splits "  16 mb " into the digits "16" and the lower-cased unit "mb" (possibly empty).
// Returns false unless the text is digits, optional whitespace, then only letters; a sign,
// a decimal point or a second number fails here.
bool SplitNumberAndUnit(std::string_view text, std::string_view* digits, std::string* unit) {
  text = Trim(text);
  size_t end = 0;
  while (end < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[end]))) {
    ++end;
  }
  if (end == 0) return false;
  *digits = text.substr(0, end);
  *unit = absl::AsciiStrToLower(Av(Trim(text.substr(end))));
  return std::all_of(unit->begin(), unit->end(),
                     [](char c) { return absl::ascii_isalpha(static_cast<unsigned char>(c)); });
}

// Parses `digits` times `factor` into *out, failing on overflow of int64.
bool ScaleToInt64(std::string_view digits, int64_t factor, int64_t* out) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(Av(digits), &n)) return false;  // overflows int64
  if (n > std::numeric_limits<int64_t>::max() / factor) return false;
  *out = n * factor;
  return true;
}

absl::Status WithPrefix(const absl::Status& status, std::string_view prefix) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(Av(prefix), status.message()));
}

// Levenshtein distance, ignoring ASCII case.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1);
  std::vector<size_t> cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      bool same = absl::ascii_tolower(static_cast<unsigned char>(a[i - 1])) ==
                  absl::ascii_tolower(static_cast<unsigned char>(b[j - 1]));
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (same ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// Names the nearest of `candidates` (within a small edit distance) as a suggestion.
absl::Status UnknownKeyError(std::string_view key, const std::vector<std::string_view>& candidates) {
  constexpr size_t kMaxSuggestionDistance = 3;
  std::string_view nearest;
  size_t best = kMaxSuggestionDistance + 1;
  for (std::string_view candidate : candidates) {
    size_t d = EditDistance(key, candidate);
    if (d < best) {
      best = d;
      nearest = candidate;
    }
  }
  std::string message = absl::StrCat("unknown config key '", Av(key), "'");
  if (!nearest.empty()) absl::StrAppend(&message, " (did you mean '", Av(nearest), "'?)");
  return absl::InvalidArgumentError(message);
}

absl::Status UnknownKeyError(std::string_view key) {
  std::vector<std::string_view> keys;
  for (const ConfigOptionSpec& spec : AllConfigOptions()) keys.push_back(spec.key);
  return UnknownKeyError(key, keys);
}

absl::Status BadValue(std::string_view key, std::string_view form, std::string_view value) {
  return absl::InvalidArgumentError(
      absl::StrCat("config key '", Av(key), "': expected ", Av(form), "; got '", Av(value), "'"));
}

bool ParseBool(std::string_view text, bool* out) {
  text = Trim(text);
  if (absl::EqualsIgnoreCase(Av(text), "true")) {
    *out = true;
    return true;
  }
  if (absl::EqualsIgnoreCase(Av(text), "false")) {
    *out = false;
    return true;
  }
  return false;
}

std::string_view TypeName(ConfigType type) {
  switch (type) {
    case ConfigType::kString:
      return "string";
    case ConfigType::kInt:
      return "int";
    case ConfigType::kBool:
      return "bool";
    case ConfigType::kDuration:
      return "duration";
    case ConfigType::kMemorySize:
      return "memory size";
    case ConfigType::kPort:
      return "port";
    case ConfigType::kDouble:
      return "double";
  }
  return "?";
}

// Returns the validated value of `key` and checks that it is declared with `type`.
const std::string& ValueOf(const std::map<std::string, std::string, std::less<>>& values,
                           std::string_view key, ConfigType type) {
  const ConfigOptionSpec* spec = FindConfigOption(key);
  EDDY_CHECK(spec != nullptr) << "undeclared config key '" << key << "'";
  EDDY_CHECK(spec->type == type) << "config key '" << key << "' has type " << TypeName(spec->type)
                                 << ", not " << TypeName(type);
  auto it = values.find(key);
  EDDY_CHECK(it != values.end()) << "config key '" << key << "' has no value";
  return it->second;
}

// Applies one YAML mapping, flattening nested mappings into dotted keys.
// `seen` holds the keys already set by this document, to reject duplicates.
absl::Status MergeYamlMap(Config& config, const YAML::Node& map, const std::string& prefix,
                          std::string_view source, std::set<std::string>& seen) {
  for (const auto& entry : map) {
    const YAML::Node& key_node = entry.first;
    const YAML::Node& value = entry.second;
    std::string where = absl::StrCat(Av(source), ":", key_node.Mark().line + 1, ": ");
    if (!key_node.IsScalar()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "config keys must be plain strings such as 'rest.port'"));
    }
    std::string key =
        prefix.empty() ? key_node.Scalar() : absl::StrCat(prefix, ".", key_node.Scalar());
    if (value.IsMap()) {
      EDDY_RETURN_IF_ERROR(MergeYamlMap(config, value, key, source, seen));
      continue;
    }
    if (value.IsSequence()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "config key '", key, "': expected a single value; got a list"));
    }
    if (!seen.insert(key).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "config key '", key, "' is set more than once"));
    }
    // "key:" with nothing after it is YAML null; treat it as the empty string.
    std::string text = value.IsScalar() ? value.Scalar() : std::string();
    EDDY_RETURN_IF_ERROR(WithPrefix(config.Set(key, text), where));
  }
  return absl::OkStatus();
}

}  // namespace

const ConfigOptionSpec* FindConfigOption(std::string_view key) {
  const auto& options = AllConfigOptions();
  auto it = std::lower_bound(
      options.begin(), options.end(), key,
      [](const ConfigOptionSpec& spec, std::string_view k) { return spec.key < k; });
  if (it == options.end() || it->key != key) return nullptr;
  return &*it;
}

absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("expected ", Av(kDurationForm), "; got '", Av(text), "'"));
  };
  std::string_view digits;
  std::string unit;
  if (!SplitNumberAndUnit(text, &digits, &unit)) return bad();
  int64_t factor;
  if (unit.empty() || unit == "ms") {
    factor = 1;
  } else if (unit == "s" || unit == "sec") {
    factor = 1000;
  } else if (unit == "m" || unit == "min") {
    factor = 60 * 1000;
  } else if (unit == "h") {
    factor = 60 * 60 * 1000;
  } else if (unit == "d") {
    factor = 24 * 60 * 60 * 1000;
  } else {
    return bad();
  }
  int64_t ms = 0;
  if (!ScaleToInt64(digits, factor, &ms)) return bad();
  return std::chrono::milliseconds(ms);
}

std::string FormatDuration(std::chrono::milliseconds d) {
  static constexpr std::pair<int64_t, std::string_view> kUnits[] = {
      {24 * 60 * 60 * 1000, "d"}, {60 * 60 * 1000, "h"}, {60 * 1000, "min"}, {1000, "s"}};
  int64_t ms = d.count();
  if (ms != 0) {
    for (const auto& [factor, name] : kUnits) {
      if (ms % factor == 0) return absl::StrCat(ms / factor, Av(name));
    }
  }
  return absl::StrCat(ms, "ms");
}

absl::StatusOr<int64_t> ParseMemorySize(std::string_view text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("expected ", Av(kMemorySizeForm), "; got '", Av(text), "'"));
  };
  std::string_view digits;
  std::string unit;
  if (!SplitNumberAndUnit(text, &digits, &unit)) return bad();
  // Accept "k", "kb" and "kib" alike; all are binary units.
  if (unit.size() == 3 && unit.substr(1) == "ib") unit.erase(1, 1);
  if (unit.size() == 2 && unit[1] == 'b') unit.pop_back();
  int shift;
  if (unit.empty() || unit == "b") {
    shift = 0;
  } else if (unit == "k") {
    shift = 10;
  } else if (unit == "m") {
    shift = 20;
  } else if (unit == "g") {
    shift = 30;
  } else if (unit == "t") {
    shift = 40;
  } else {
    return bad();
  }
  int64_t bytes = 0;
  if (!ScaleToInt64(digits, int64_t{1} << shift, &bytes)) return bad();
  return bytes;
}

Config::Config() {
  for (const ConfigOptionSpec& spec : AllConfigOptions()) {
    values_.emplace(std::string(spec.key), std::string(spec.default_value));
  }
}

absl::StatusOr<Config> Config::Load(const std::string& yaml_path,
                                    const std::vector<std::string>& overrides,
                                    std::string_view properties) {
  Config config;
  if (!yaml_path.empty()) {
    std::ifstream in(yaml_path, std::ios::binary);
    if (!in) {
      int err = errno;
      std::string message =
          absl::StrCat("cannot read config file '", yaml_path, "': ", std::strerror(err));
      if (err == ENOENT) return absl::NotFoundError(message);
      return absl::InvalidArgumentError(message);
    }
    std::stringstream text;
    text << in.rdbuf();
    EDDY_RETURN_IF_ERROR(config.MergeYaml(text.str(), yaml_path));
  }
  if (!absl::StripAsciiWhitespace(Av(properties)).empty()) {
    EDDY_RETURN_IF_ERROR(config.MergeYaml(properties, kPropertiesEnv));
  }
  for (const std::string& key_equals_value : overrides) {
    EDDY_RETURN_IF_ERROR(config.ApplyOverride(key_equals_value));
  }
  return config;
}

absl::Status Config::Set(std::string_view key, std::string_view value) {
  const ConfigOptionSpec* spec = FindConfigOption(key);
  if (spec == nullptr) return UnknownKeyError(key);
  switch (spec->type) {
    case ConfigType::kString:
      if (!spec->allowed.empty() &&
          std::find(spec->allowed.begin(), spec->allowed.end(), value) == spec->allowed.end()) {
        std::string form = "one of ";
        for (size_t i = 0; i < spec->allowed.size(); ++i) {
          // An allowed empty value (a key's "not set") reads as "" in the message.
          absl::StrAppend(&form, i == 0 ? "" : ", ",
                          spec->allowed[i].empty() ? "\"\"" : Av(spec->allowed[i]));
        }
        return BadValue(key, form, value);
      }
      break;
    case ConfigType::kInt: {
      int64_t n = 0;
      if (!absl::SimpleAtoi(Av(value), &n) || n < spec->min || n > spec->max) {
        return BadValue(key, absl::StrCat("an integer from ", spec->min, " to ", spec->max), value);
      }
      break;
    }
    case ConfigType::kPort: {
      int64_t n = 0;
      if (!absl::SimpleAtoi(Av(value), &n) || n < 0 || n > 65535) {
        return BadValue(key, "a port, an integer from 0 to 65535", value);
      }
      break;
    }
    case ConfigType::kBool: {
      bool b = false;
      if (!ParseBool(value, &b)) return BadValue(key, "true or false", value);
      break;
    }
    case ConfigType::kDuration: {
      auto duration = ParseDuration(value);
      if (!duration.ok()) return BadValue(key, kDurationForm, value);
      if (duration->count() < spec->min || duration->count() > spec->max) {
        std::string form = absl::StrCat("a duration of at least ",
                                        FormatDuration(std::chrono::milliseconds(spec->min)));
        if (spec->max != INT64_MAX) {
          absl::StrAppend(&form, " and at most ",
                          FormatDuration(std::chrono::milliseconds(spec->max)));
        }
        return BadValue(key, form, value);
      }
      break;
    }
    case ConfigType::kMemorySize:
      if (!ParseMemorySize(value).ok()) return BadValue(key, kMemorySizeForm, value);
      break;
    case ConfigType::kDouble: {
      double d = 0;
      if (!absl::SimpleAtod(Av(Trim(value)), &d) || !(d >= static_cast<double>(spec->min)) ||
          d > static_cast<double>(spec->max)) {
        return BadValue(key, absl::StrCat("a number from ", spec->min, " to ", spec->max), value);
      }
      break;
    }
  }
  values_[std::string(spec->key)] = std::string(value);
  return absl::OkStatus();
}

absl::Status Config::ApplyJobConfig(const std::map<std::string, std::string>& job_config) {
  const auto& job_keys = JobConfigKeys();
  for (const auto& [key, value] : job_config) {
    if (std::find(job_keys.begin(), job_keys.end(), key) == job_keys.end()) {
      if (FindConfigOption(key) == nullptr) return UnknownKeyError(key, job_keys);
      std::string message =
          absl::StrCat("config key '", key, "' is a cluster key, not a per-job key; job keys: ");
      for (size_t i = 0; i < job_keys.size(); ++i) {
        absl::StrAppend(&message, i == 0 ? "" : ", ", Av(job_keys[i]));
      }
      return absl::InvalidArgumentError(message);
    }
    EDDY_RETURN_IF_ERROR(Set(key, value));
  }
  return absl::OkStatus();
}

absl::Status Config::ApplyOverride(std::string_view key_equals_value) {
  size_t eq = key_equals_value.find('=');
  std::string_view key = eq == std::string_view::npos ? "" : Trim(key_equals_value.substr(0, eq));
  if (key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--set expects key=value; got '", Av(key_equals_value), "'"));
  }
  std::string_view value = Trim(key_equals_value.substr(eq + 1));
  return WithPrefix(Set(key, value), "--set: ");
}

absl::Status Config::MergeYaml(std::string_view yaml_text, std::string_view source) {
  // Parse and apply into a copy so that a bad document leaves *this unchanged.
  Config merged = *this;
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    if (root.IsNull()) return absl::OkStatus();  // empty document or only comments
    if (!root.IsMap()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Av(source), ":", root.Mark().line + 1,
                       ": expected a mapping of config keys to values, such as 'rest.port: 8081'"));
    }
    std::set<std::string> seen;
    EDDY_RETURN_IF_ERROR(MergeYamlMap(merged, root, "", source, seen));
  } catch (const YAML::Exception& e) {
    std::string where =
        e.mark.is_null() ? std::string(source) : absl::StrCat(Av(source), ":", e.mark.line + 1);
    return absl::InvalidArgumentError(absl::StrCat(where, ": invalid YAML: ", e.msg));
  }
  *this = std::move(merged);
  return absl::OkStatus();
}

std::string Config::GetString(std::string_view key) const {
  return ValueOf(values_, key, ConfigType::kString);
}

int64_t Config::GetInt(std::string_view key) const {
  const std::string& text = ValueOf(values_, key, ConfigType::kInt);
  int64_t n = 0;
  EDDY_CHECK(absl::SimpleAtoi(text, &n)) << "config key '" << key << "': '" << text << "'";
  return n;
}

double Config::GetDouble(std::string_view key) const {
  const std::string& text = ValueOf(values_, key, ConfigType::kDouble);
  double d = 0;
  EDDY_CHECK(absl::SimpleAtod(Av(Trim(text)), &d)) << "config key '" << key << "': '" << text << "'";
  return d;
}

bool Config::GetBool(std::string_view key) const {
  const std::string& text = ValueOf(values_, key, ConfigType::kBool);
  bool b = false;
  EDDY_CHECK(ParseBool(text, &b)) << "config key '" << key << "': '" << text << "'";
  return b;
}

std::chrono::milliseconds Config::GetDuration(std::string_view key) const {
  const std::string& text = ValueOf(values_, key, ConfigType::kDuration);
  absl::StatusOr<std::chrono::milliseconds> d = ParseDuration(text);
  EDDY_CHECK(d.ok()) << "config key '" << key << "': " << d.status().message();
  return *d;
}

int64_t Config::GetMemorySize(std::string_view key) const {
  const std::string& text = ValueOf(values_, key, ConfigType::kMemorySize);
  absl::StatusOr<int64_t> bytes = ParseMemorySize(text);
  EDDY_CHECK(bytes.ok()) << "config key '" << key << "': " << bytes.status().message();
  return *bytes;
}

uint16_t Config::GetPort(std::string_view key) const {
  const std::string& text = ValueOf(values_, key, ConfigType::kPort);
  int64_t n = 0;
  EDDY_CHECK(absl::SimpleAtoi(text, &n) && n >= 0 && n <= 65535)
      << "config key '" << key << "': '" << text << "'";
  return static_cast<uint16_t>(n);
}

bool IsSecretKey(std::string_view key) {
  return absl::StrContains(Av(key), "secret") || absl::StrContains(Av(key), "password") ||
         absl::StrContains(Av(key), "access-key");
}

void AddConfigFlags(CLI::App& app, ConfigFlags* flags) {
  app.add_option("--config", flags->config_file,
                 "YAML file of configuration keys (see docs/configuration.md)")
      ->type_name("FILE");
  // One value per occurrence, so that "--set a=1 positional" leaves the positional alone.
  app.add_option("--set", flags->overrides,
                 "Overrides one configuration key, after the --config file and "
                 "$EDDY_PROPERTIES; repeatable")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  app.add_flag("--print-config", flags->print_config,
               "Prints the effective configuration as key: value lines and exits");
}

absl::StatusOr<Config> LoadConfig(const ConfigFlags& flags) {
  const char* properties = std::getenv(kPropertiesEnv);
  return Config::Load(flags.config_file, flags.overrides,
                      properties != nullptr ? properties : "");
}

std::string FormatConfig(const Config& config) {
  std::string out;
  for (const auto& [key, value] : config.values()) {
    absl::StrAppend(&out, key, ": ",
                    IsSecretKey(key) && !value.empty() ? "******"
                    : value.empty()                   ? "\"\""
                                                      : value,
                    "\n");
  }
  return out;
}

}  // namespace eddy
