#pragma once

// A cluster's data directory (made by `clustertls init`, read by `clustertls serve`):
//   DIR/clustertls.json  the config below (0600: the store URL may hold a password)
//   DIR/sealing.key      the SealingKey as hex (0600)
//   DIR/clustertls.db    the SQLite store, unless the config names another store
//   DIR/audit-head.json  the audit log's signed head, kept by `serve` (0644; audit_head.h)
// A second `serve` instance on the same PostgreSQL gets a copy of the directory. A SQLite store
// inside DIR is named relative to DIR, so a copied directory (cp -a DIR COPY) uses its own copy
// of the database.

#include <string>

#include "authority/secrets.h"
#include "core/result.h"

namespace clustertls::authority {

inline constexpr std::string_view kConfigFileName = "clustertls.json";
inline constexpr std::string_view kSealingKeyFileName = "sealing.key";
inline constexpr std::string_view kDefaultListen = "127.0.0.1:9443";
inline constexpr std::string_view kDefaultPublicListen = "127.0.0.1:9080";

// The store URL `init` writes by default: DIR/clustertls.db, relative to DIR.
inline constexpr std::string_view kDefaultStoreUrl = "sqlite://clustertls.db";

struct DataDirConfig {
  std::string fqdn;
  // In the file: "sqlite://clustertls.db" (a path relative to DIR), "sqlite:///abs/path.db" or
  // "postgres://...". LoadDataDirConfig returns it resolved (ResolveStoreUrl): the URL to open.
  std::string store_url;
  std::string listen = std::string(kDefaultListen);
  // Optional in the file (older data directories lack them): the plain-HTTP public listener
  // ("off": none) and the base URL put into issued certificates (empty: http://<public_listen>).
  std::string public_listen = std::string(kDefaultPublicListen);
  std::string public_url{};
  std::string sealing_key_file = std::string(kSealingKeyFileName);  // relative to DIR or absolute
};

// The URL to open for a `store_url` of DIR's config: a relative SQLite path ("sqlite://rel" or
// a bare "rel") resolved against DIR, made absolute; an absolute SQLite path (older data
// directories name theirs so: a copy of such a directory still opens the original database),
// ":memory:" and a PostgreSQL URL unchanged.
std::string ResolveStoreUrl(const std::string& dir, const std::string& store_url);

// The `store_url` to write into DIR's config for a store URL given on the command line (a
// relative path taken against the current directory): a SQLite file inside DIR by its path
// relative to DIR ("sqlite://clustertls.db"), any other SQLite file by its absolute path, a
// PostgreSQL URL unchanged.
std::string StoreUrlForConfig(const std::string& dir, const std::string& store_url);

// Reads DIR/clustertls.json, `store_url` resolved by ResolveStoreUrl. kNotFound ("DIR is not a
// clustertls data directory: run clustertls init"), kParse naming the file and the field for bad
// JSON or a missing field. Unknown fields are refused (a typo must not be ignored).
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
