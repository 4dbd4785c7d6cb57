#include "api/job_library_stamp.h"

#include <elf.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "api/job_builder.h"
#include "common/mapped_file.h"

namespace eddy {
namespace {

/// Copies a T from `elf` at `offset`; false if it does not lie wholly inside.
template <typename T>
bool ReadAt(std::string_view elf, uint64_t offset, T* out) {
  if (offset > elf.size() || elf.size() - offset < sizeof(T)) return false;
  std::memcpy(out, elf.data() + offset, sizeof(T));
  return true;
}

absl::Status NotAJobLibrary(const std::string& what, const char* why) {
  return absl::InvalidArgumentError(absl::StrCat(
      what, " is not an Eddy job library: ", why,
      ". A job library is a shared object built with eddy_add_job from a source that "
      "defines its job with EDDY_JOB(name)"));
}

}  // namespace

absl::StatusOr<uint32_t> ReadJobAbiStamp(std::string_view elf, const std::string& what) {
  Elf64_Ehdr header;
  if (!ReadAt(elf, 0, &header) || std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0) {
    return NotAJobLibrary(what, "it is not an ELF file");
  }
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_ident[EI_DATA] != ELFDATA2LSB ||
      header.e_type != ET_DYN) {
    return NotAJobLibrary(what, "it is not a 64-bit little-endian ELF shared object");
  }
  if (header.e_shentsize != sizeof(Elf64_Shdr) || header.e_shnum == 0) {
    return NotAJobLibrary(what, "it has no section headers");
  }
  const uint64_t num_sections = header.e_shnum;
  auto section = [&](uint64_t index, Elf64_Shdr* out) {
    return index < num_sections &&
           ReadAt(elf, header.e_shoff + index * sizeof(Elf64_Shdr), out);
  };
  for (uint64_t i = 0; i < num_sections; ++i) {
    Elf64_Shdr symbols;
    if (!section(i, &symbols)) return NotAJobLibrary(what, "its section headers are truncated");
    if (symbols.sh_type != SHT_DYNSYM) continue;
    Elf64_Shdr strings;
    if (symbols.sh_entsize != sizeof(Elf64_Sym) || !section(symbols.sh_link, &strings) ||
        strings.sh_offset > elf.size() || elf.size() - strings.sh_offset < strings.sh_size) {
      return NotAJobLibrary(what, "its dynamic symbol table is malformed");
    }
    const std::string_view names = elf.substr(strings.sh_offset, strings.sh_size);
    const uint64_t count = symbols.sh_size / sizeof(Elf64_Sym);
    for (uint64_t s = 0; s < count; ++s) {
      Elf64_Sym symbol;
      if (!ReadAt(elf, symbols.sh_offset + s * sizeof(Elf64_Sym), &symbol)) {
        return NotAJobLibrary(what, "its dynamic symbol table is truncated");
      }
      if (symbol.st_name >= names.size()) continue;
      const std::string_view rest = names.substr(symbol.st_name);
      const size_t end = rest.find('\0');
      if (end == std::string_view::npos || rest.substr(0, end) != kJobAbiStampSymbol) continue;
      Elf64_Shdr holder;
      if (symbol.st_shndx == SHN_UNDEF || symbol.st_shndx >= SHN_LORESERVE ||
          symbol.st_size < sizeof(JobAbiStamp) || !section(symbol.st_shndx, &holder) ||
          holder.sh_type == SHT_NOBITS || symbol.st_value < holder.sh_addr ||
          symbol.st_value - holder.sh_addr > holder.sh_size ||
          holder.sh_size - (symbol.st_value - holder.sh_addr) < sizeof(JobAbiStamp)) {
        return NotAJobLibrary(what, "its ABI stamp is not defined in the file");
      }
      JobAbiStamp stamp;
      if (!ReadAt(elf, holder.sh_offset + (symbol.st_value - holder.sh_addr), &stamp) ||
          std::memcmp(stamp.magic, kJobAbiStampMagic, sizeof(stamp.magic)) != 0) {
        return NotAJobLibrary(what, "its ABI stamp is damaged");
      }
      return stamp.abi;
    }
  }
  return NotAJobLibrary(what, "it has no Eddy ABI stamp (symbol eddy_job_abi_stamp)");
}

absl::Status CheckJobLibraryBytes(std::string_view elf, const std::string& what) {
  auto abi = ReadJobAbiStamp(elf, what);
  if (!abi.ok()) return abi.status();
  if (*abi != kAbiVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, " was built for Eddy job ABI ", *abi, ", but this Eddy speaks ABI ", kAbiVersion,
        ": rebuild the job against this Eddy version"));
  }
  return absl::OkStatus();
}

absl::Status CheckJobLibraryFile(const std::string& path) {
  auto file = MappedFile::Open(path);  // read, never executed
  if (!file.ok()) {
    return absl::Status(file.status().code(),
                        absl::StrCat("job library: ", file.status().message()));
  }
  if (file->view().empty()) return NotAJobLibrary(path, "it is empty");
  return CheckJobLibraryBytes(file->view(), path);
}

}  // namespace eddy
