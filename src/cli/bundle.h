#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/files.h"
#include "core/result.h"

namespace clustertls::cli {

// One member of a zip bundle.
struct ZipEntry {
  std::string name;  // e.g. "ca/ca.crt"; parent folders get their own directory entries
  std::string data;
  mode_t mode = core::kPublicFileMode;  // stored as Unix external attributes
};

// Builds a zip archive in memory (deflate), in the layout `elasticsearch-certutil --pem`
// produces when given entries like "ca/ca.crt", "<name>/<name>.crt", "<name>/<name>.key":
// a directory entry "<dir>/" precedes the files of each folder. Fails with kIo/kInvalidArgument
// (duplicate or unsafe member names).
core::Result<std::string> BuildZip(const std::vector<ZipEntry>& entries);

// Reads every file member of a zip archive held in memory (directory entries are skipped).
// Fails with kParse when `data` is not a zip archive.
core::Result<std::vector<ZipEntry>> ReadZip(std::string_view data);

}  // namespace clustertls::cli
