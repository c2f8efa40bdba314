#include "cli/bundle.h"

#include <zip.h>

#include <memory>
#include <set>

namespace clustertls::cli {
namespace {

using core::ErrorCode;
using core::Fail;

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct SourceFreer {
  void operator()(zip_source_t* s) const { zip_source_free(s); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipCloser>;
using SourcePtr = std::unique_ptr<zip_source_t, SourceFreer>;

std::string ZipErrorText(zip_error_t* err) {
  std::string s = zip_error_strerror(err);
  zip_error_fini(err);
  return s;
}

bool SafeMemberName(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.back() == '/') {
    return false;
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('/', start);
    if (end == std::string_view::npos) {
      end = name.size();
    }
    std::string_view part = name.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") {
      return false;
    }
    start = end + 1;
  }
  return true;
}

}  // namespace

core::Result<std::string> BuildZip(const std::vector<ZipEntry>& entries) {
  zip_error_t err;
  zip_error_init(&err);
  SourcePtr src(zip_source_buffer_create(nullptr, 0, 0, &err));
  if (!src) {
    return Fail(ErrorCode::kIo, "cannot create zip buffer: " + ZipErrorText(&err));
  }
  ZipPtr za(zip_open_from_source(src.get(), ZIP_TRUNCATE, &err));
  if (!za) {
    return Fail(ErrorCode::kIo, "cannot create zip archive: " + ZipErrorText(&err));
  }
  zip_source_keep(src.get());  // the archive's close must not free our buffer source

  std::set<std::string> names;
  std::set<std::string> dirs;
  for (const auto& e : entries) {
    if (!SafeMemberName(e.name)) {
      return Fail(ErrorCode::kInvalidArgument, "unsafe zip member name \"" + e.name + "\"");
    }
    if (!names.insert(e.name).second) {
      return Fail(ErrorCode::kInvalidArgument, "duplicate zip member \"" + e.name + "\"");
    }
    // Directory entries for each parent folder, outermost first.
    for (std::size_t pos = e.name.find('/'); pos != std::string::npos;
         pos = e.name.find('/', pos + 1)) {
      std::string dir = e.name.substr(0, pos);
      if (dirs.insert(dir).second) {
        zip_int64_t idx = zip_dir_add(za.get(), dir.c_str(), ZIP_FL_ENC_UTF_8);
        if (idx < 0) {
          return Fail(ErrorCode::kIo, "zip: cannot add " + dir + "/: " + zip_strerror(za.get()));
        }
        zip_file_set_external_attributes(za.get(), static_cast<zip_uint64_t>(idx), 0,
                                         ZIP_OPSYS_UNIX, (040755u) << 16);
      }
    }
    // The data stays alive in `entries` until zip_close below.
    zip_source_t* s = zip_source_buffer(za.get(), e.data.data(), e.data.size(), 0);
    if (s == nullptr) {
      return Fail(ErrorCode::kIo, "zip: cannot add " + e.name + ": " + zip_strerror(za.get()));
    }
    zip_int64_t idx = zip_file_add(za.get(), e.name.c_str(), s, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
      zip_source_free(s);
      return Fail(ErrorCode::kIo, "zip: cannot add " + e.name + ": " + zip_strerror(za.get()));
    }
    zip_file_set_external_attributes(za.get(), static_cast<zip_uint64_t>(idx), 0, ZIP_OPSYS_UNIX,
                                     (0100000u | (e.mode & 07777u)) << 16);
  }
  if (zip_close(za.get()) != 0) {
    return Fail(ErrorCode::kIo, std::string("zip: cannot finish archive: ") +
                                    zip_strerror(za.get()));
  }
  (void)za.release();  // zip_close freed it

  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_source_stat(src.get(), &st) != 0 || zip_source_open(src.get()) != 0) {
    return Fail(ErrorCode::kIo, "zip: cannot read the archive buffer");
  }
  std::string out(static_cast<std::size_t>(st.size), '\0');
  zip_int64_t n = zip_source_read(src.get(), out.data(), out.size());
  zip_source_close(src.get());
  if (n < 0 || static_cast<std::size_t>(n) != out.size()) {
    return Fail(ErrorCode::kIo, "zip: short read of the archive buffer");
  }
  return out;
}

core::Result<std::vector<ZipEntry>> ReadZip(std::string_view data) {
  zip_error_t err;
  zip_error_init(&err);
  SourcePtr src(zip_source_buffer_create(data.data(), data.size(), 0, &err));
  if (!src) {
    return Fail(ErrorCode::kIo, "cannot read zip buffer: " + ZipErrorText(&err));
  }
  ZipPtr za(zip_open_from_source(src.get(), ZIP_RDONLY | ZIP_CHECKCONS, &err));
  if (!za) {
    return Fail(ErrorCode::kParse, "not a zip archive: " + ZipErrorText(&err));
  }
  zip_source_keep(src.get());
  std::vector<ZipEntry> out;
  zip_int64_t count = zip_get_num_entries(za.get(), 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    zip_stat_t st;
    if (zip_stat_index(za.get(), static_cast<zip_uint64_t>(i), 0, &st) != 0) {
      return Fail(ErrorCode::kParse, "zip: cannot read member " + std::to_string(i));
    }
    std::string name = st.name;
    if (!name.empty() && name.back() == '/') {
      continue;
    }
    ZipEntry e;
    e.name = name;
    zip_uint8_t opsys = 0;
    zip_uint32_t attr = 0;
    if (zip_file_get_external_attributes(za.get(), static_cast<zip_uint64_t>(i), 0, &opsys,
                                         &attr) == 0 &&
        opsys == ZIP_OPSYS_UNIX) {
      e.mode = (attr >> 16) & 07777u;
    }
    zip_file_t* zf = zip_fopen_index(za.get(), static_cast<zip_uint64_t>(i), 0);
    if (zf == nullptr) {
      return Fail(ErrorCode::kParse, "zip: cannot open member " + name);
    }
    e.data.resize(static_cast<std::size_t>(st.size));
    zip_int64_t n = zip_fread(zf, e.data.data(), e.data.size());
    zip_fclose(zf);
    if (n < 0 || static_cast<std::size_t>(n) != e.data.size()) {
      return Fail(ErrorCode::kParse, "zip: short read of member " + name);
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace clustertls::cli
