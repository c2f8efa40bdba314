#include "ossl/bio.h"

#include <algorithm>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "ossl/error.h"

namespace clustertls::ossl {

Ptr<BIO> ReadBio(std::string_view data) {
  return Own(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

Ptr<BIO> WriteBio() { return Own(BIO_new(BIO_s_mem())); }

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) {
    return {};
  }
  return std::string(data, static_cast<std::size_t>(len));
}

core::Result<std::vector<PemBlock>> ReadPemBlocks(std::string_view data,
                                                  std::initializer_list<std::string_view> labels,
                                                  std::size_t max) {
  std::vector<PemBlock> out;
  auto bio = ReadBio(data);
  if (!bio) {
    return Failure(core::ErrorCode::kCrypto, "cannot create a memory BIO");
  }
  ClearErrors();
  for (int index = 1; out.size() < max; ++index) {
    char* name_raw = nullptr;
    char* header_raw = nullptr;
    unsigned char* body_raw = nullptr;
    long len = 0;
    int ok = PEM_read_bio(bio.get(), &name_raw, &header_raw, &body_raw, &len);
    std::string name = name_raw != nullptr ? name_raw : "";
    std::string body =
        body_raw != nullptr && len > 0
            ? std::string(reinterpret_cast<char*>(body_raw), static_cast<std::size_t>(len))
            : std::string();
    OPENSSL_free(name_raw);
    OPENSSL_free(header_raw);
    OPENSSL_free(body_raw);
    if (ok != 1) {
      unsigned long err = ERR_peek_last_error();
      if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
        ClearErrors();
        break;
      }
      return Failure(core::ErrorCode::kParse,
                     "PEM block " + std::to_string(index) + " is corrupt or truncated");
    }
    if (std::find(labels.begin(), labels.end(), name) != labels.end()) {
      out.push_back(PemBlock{.index = index, .der = std::move(body)});
    }
  }
  return out;
}

}  // namespace clustertls::ossl
