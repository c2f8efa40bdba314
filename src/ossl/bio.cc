#include "ossl/bio.h"

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

}  // namespace clustertls::ossl
