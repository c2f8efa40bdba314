#include "authority/data_dir.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/files.h"

namespace clustertls::authority {

using core::ErrorCode;
using core::Result;

namespace {

// The key file is 65 bytes; anything much larger is not a key file.
constexpr std::size_t kMaxKeyFileBytes = 4096;
constexpr std::size_t kMaxConfigBytes = 1 << 20;

std::string JoinPath(const std::string& dir, std::string_view name) {
  if (dir.empty()) {
    return std::string(name);
  }
  if (dir.back() == '/') {
    return dir + std::string(name);
  }
  return dir + "/" + std::string(name);
}

std::string KeyPath(const std::string& dir, const DataDirConfig& config) {
  if (!config.sealing_key_file.empty() && config.sealing_key_file.front() == '/') {
    return config.sealing_key_file;
  }
  return JoinPath(dir, config.sealing_key_file);
}

// The SQLite path of a store URL, or nullopt for another kind of store (PostgreSQL, an
// unknown scheme Store::Open refuses, ":memory:").
std::optional<std::string> SqlitePath(const std::string& url) {
  std::string path;
  if (url.rfind("sqlite://", 0) == 0) {
    path = url.substr(9);
  } else if (url.find("://") != std::string::npos) {
    return std::nullopt;
  } else {
    path = url;
  }
  if (path.empty() || path == ":memory:") {
    return std::nullopt;
  }
  return path;
}

// `path` made absolute against the current directory, normalised, without a trailing '/'.
std::filesystem::path Absolute(const std::string& path) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  abs = (ec ? std::filesystem::path(path) : abs).lexically_normal();
  if (!abs.has_filename() && abs != abs.root_path()) {
    abs = abs.parent_path();
  }
  return abs;
}

std::string OctalMode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

}  // namespace

std::string ResolveStoreUrl(const std::string& dir, const std::string& store_url) {
  std::optional<std::string> path = SqlitePath(store_url);
  if (!path || path->front() == '/') {
    return store_url;
  }
  return "sqlite://" + (Absolute(dir) / *path).lexically_normal().string();
}

std::string StoreUrlForConfig(const std::string& dir, const std::string& store_url) {
  std::optional<std::string> path = SqlitePath(store_url);
  if (!path) {
    return store_url;
  }
  const std::filesystem::path file = Absolute(*path);
  const std::filesystem::path relative = file.lexically_relative(Absolute(dir));
  const bool inside = !relative.empty() && *relative.begin() != ".." && relative != ".";
  return "sqlite://" + (inside ? relative.string() : file.string());
}

Result<DataDirConfig> LoadDataDirConfig(const std::string& dir) {
  const std::string path = JoinPath(dir, kConfigFileName);
  auto text = core::ReadFile(path, kMaxConfigBytes);
  if (!text) {
    if (text.error().code == ErrorCode::kNotFound) {
      return core::Fail(ErrorCode::kNotFound,
                        dir + " is not a clustertls data directory: run clustertls init");
    }
    return text.error();
  }
  nlohmann::json doc = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return core::Fail(ErrorCode::kParse, path + ": not valid JSON");
  }
  if (!doc.is_object()) {
    return core::Fail(ErrorCode::kParse, path + ": expected a JSON object");
  }
  DataDirConfig config;
  struct Field {
    std::string_view name;
    std::string* target;
    bool required;
  };
  const Field fields[] = {
      {"fqdn", &config.fqdn, true},
      {"store_url", &config.store_url, true},
      {"listen", &config.listen, false},
      {"public_listen", &config.public_listen, false},
      {"public_url", &config.public_url, false},
      {"sealing_key_file", &config.sealing_key_file, false},
  };
  for (const auto& [key, value] : doc.items()) {
    const Field* field = nullptr;
    for (const auto& f : fields) {
      if (f.name == key) {
        field = &f;
      }
    }
    if (field == nullptr) {
      return core::Fail(ErrorCode::kParse,
                        path + ": unknown field \"" + key +
                            "\" (known: fqdn, store_url, listen, public_listen, public_url, "
                            "sealing_key_file)");
    }
    if (!value.is_string()) {
      return core::Fail(ErrorCode::kParse, path + ": field \"" + key + "\" must be a string");
    }
    *field->target = value.get<std::string>();
    if (field->target->empty()) {
      return core::Fail(ErrorCode::kParse, path + ": field \"" + key + "\" is empty");
    }
  }
  for (const auto& f : fields) {
    if (f.required && !doc.contains(f.name)) {
      return core::Fail(ErrorCode::kParse,
                        path + ": missing field \"" + std::string(f.name) + "\"");
    }
  }
  config.store_url = ResolveStoreUrl(dir, config.store_url);
  return config;
}

Result<void> SaveDataDirConfig(const std::string& dir, const DataDirConfig& config) {
  const std::string path = JoinPath(dir, kConfigFileName);
  struct Field {
    std::string_view name;
    const std::string* value;
    bool optional;  // an empty optional field is left out of the file
  };
  const Field fields[] = {
      {"fqdn", &config.fqdn, false},
      {"store_url", &config.store_url, false},
      {"listen", &config.listen, false},
      {"public_listen", &config.public_listen, false},
      {"public_url", &config.public_url, true},
      {"sealing_key_file", &config.sealing_key_file, false},
  };
  nlohmann::ordered_json doc = nlohmann::ordered_json::object();
  for (const auto& [name, value, optional] : fields) {
    if (value->empty() && optional) {
      continue;
    }
    if (value->empty()) {
      return core::Fail(ErrorCode::kInvalidArgument,
                        path + ": field \"" + std::string(name) + "\" is empty");
    }
    doc[std::string(name)] = *value;
  }
  std::string text;
  try {
    text = doc.dump(2) + "\n";
  } catch (const nlohmann::json::exception&) {
    return core::Fail(ErrorCode::kInvalidArgument, path + ": a field is not valid UTF-8");
  }
  return core::WriteFileAtomic(path, text, {.mode = core::kPrivateFileMode, .overwrite = false});
}

Result<SealingKey> LoadSealingKey(const std::string& dir, const DataDirConfig& config) {
  const std::string path = KeyPath(dir, config);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return core::Fail(ErrorCode::kNotFound, path + ": no such file (the sealing key)");
    }
    return core::Fail(ErrorCode::kIo, path + ": cannot stat: " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return core::Fail(ErrorCode::kInvalidArgument, path + ": not a regular file");
  }
  if ((st.st_mode & 0077) != 0) {
    const char* what = (st.st_mode & 0044) != 0 ? "readable" : "accessible";
    return core::Fail(ErrorCode::kInvalidArgument, path + " is " + what + " by others (mode " +
                                                       OctalMode(st.st_mode) + "); chmod 600 it");
  }
  auto text = core::ReadFile(path, kMaxKeyFileBytes);
  if (!text) {
    if (text.error().code == ErrorCode::kInvalidArgument) {
      return core::Fail(ErrorCode::kParse, path + ": too large for a sealing key file");
    }
    return text.error();
  }
  auto key = SealingKey::FromHex(*text);
  if (!key) {
    return key.error().WithContext(path);
  }
  return key;
}

Result<void> SaveSealingKey(const std::string& dir, const DataDirConfig& config,
                            const SealingKey& key) {
  return core::WriteFileAtomic(KeyPath(dir, config), key.ToHex(),
                               {.mode = core::kPrivateFileMode, .overwrite = false});
}

}  // namespace clustertls::authority
