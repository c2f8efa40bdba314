#pragma once

// A cluster's data directory (made by `clustertls init`, read by `clustertls serve`):
//   DIR/clustertls.json  the config below (0600: the store URL may hold a password)
//   DIR/sealing.key      the SealingKey as hex (0600)
//   DIR/clustertls.db    the SQLite store, unless the config names another store
// A second `serve` instance on the same PostgreSQL gets a copy of the directory.

#include <string>

#include "authority/secrets.h"
#include "core/result.h"

namespace clustertls::authority {

inline constexpr std::string_view kConfigFileName = "clustertls.json";
inline constexpr std::string_view kSealingKeyFileName = "sealing.key";
inline constexpr std::string_view kDefaultListen = "127.0.0.1:9443";
inline constexpr std::string_view kDefaultPublicListen = "127.0.0.1:9080";

struct DataDirConfig {
  std::string fqdn;
  std::string store_url;  // e.g. "sqlite:///abs/DIR/clustertls.db" or "postgres://..."
  std::string listen = std::string(kDefaultListen);
  // Optional in the file (older data directories lack them): the plain-HTTP public listener
  // ("off": none) and the base URL put into issued certificates (empty: http://<public_listen>).
  std::string public_listen = std::string(kDefaultPublicListen);
  std::string public_url{};
  std::string sealing_key_file = std::string(kSealingKeyFileName);  // relative to DIR or absolute
};

// Reads DIR/clustertls.json. kNotFound ("DIR is not a clustertls data directory: run
// clustertls init"), kParse naming the file and the field for bad JSON or a missing field.
// Unknown fields are refused (a typo must not be ignored).
core::Result<DataDirConfig> LoadDataDirConfig(const std::string& dir);

// Writes DIR/clustertls.json atomically, mode 0600. Refuses to overwrite (kAlreadyExists).
core::Result<void> SaveDataDirConfig(const std::string& dir, const DataDirConfig& config);

// Reads the sealing key file named by `config` (relative to `dir`). Refuses a key file that
// group or others can read (kInvalidArgument: "DIR/sealing.key is readable by others (mode
// 0644); chmod 600 it"), kParse for bad content.
core::Result<SealingKey> LoadSealingKey(const std::string& dir, const DataDirConfig& config);

// Writes the key file (0600, refuses to overwrite).
core::Result<void> SaveSealingKey(const std::string& dir, const DataDirConfig& config,
                                  const SealingKey& key);

}  // namespace clustertls::authority
