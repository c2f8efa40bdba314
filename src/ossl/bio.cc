#include "ossl/bio.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>

#include "ossl/error.h"

namespace clustertls::ossl {

Ptr<BIO> ReadBio(std::string_view data) {
  return Own(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

Ptr<BIO> WriteBio() { return Own(BIO_new(BIO_s_mem())); }

std::string PemEncode(std::string_view label, std::string_view der) {
  constexpr std::size_t kLineBytes = 48;  // 64 base64 characters
  const std::size_t lines = (der.size() + kLineBytes - 1) / kLineBytes;
  std::string out;
  out.reserve(2 * label.size() + 32 + lines * 65);
  out.append("-----BEGIN ").append(label).append("-----\n");
  std::size_t start = out.size();
  out.resize(start + lines * 65);  // each line: at most 64 characters and "\n"
  char* p = out.data() + start;
  for (std::size_t i = 0; i < der.size(); i += kLineBytes) {
    std::size_t n = std::min(kLineBytes, der.size() - i);
    // EVP_EncodeBlock also writes a NUL after the characters: into the "\n" slot, overwritten.
    int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(p),
                                  reinterpret_cast<const unsigned char*>(der.data() + i),
                                  static_cast<int>(n));
    p += written;
    *p++ = '\n';
  }
  out.resize(static_cast<std::size_t>(p - out.data()));
  out.append("-----END ").append(label).append("-----\n");
  return out;
}

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
