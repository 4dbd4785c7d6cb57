#include "api/job_args.h"

#include <stdexcept>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace eddy {

absl::StatusOr<JobArgs> JobArgs::Parse(const std::vector<std::string>& args) {
  JobArgs out;
  out.raw_ = args;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("job argument '", a, "': expected --key value or --key=value"));
    }
    std::string body = a.substr(2);
    auto eq = body.find('=');
    if (eq != std::string::npos) {
      out.values_[body.substr(0, eq)] = body.substr(eq + 1);
    } else if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) {
      out.values_[body] = args[++i];
    } else {
      out.values_[body] = "true";
    }
  }
  return out;
}

std::string JobArgs::get(const std::string& key, const std::string& fallback) const {
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

int64_t JobArgs::get_int(const std::string& key, int64_t fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  int64_t v;
  if (!absl::SimpleAtoi(it->second, &v)) {
    throw std::invalid_argument("job argument --" + key + ": expected an integer; got '" +
                                it->second + "'");
  }
  return v;
}

double JobArgs::get_double(const std::string& key, double fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  double v;
  if (!absl::SimpleAtod(it->second, &v)) {
    throw std::invalid_argument("job argument --" + key + ": expected a number; got '" +
                                it->second + "'");
  }
  return v;
}

std::string JobArgs::require(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw std::invalid_argument("missing job argument --" + key);
  return it->second;
}

}  // namespace eddy
