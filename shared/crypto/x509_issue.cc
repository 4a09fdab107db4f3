#include "shared/crypto/x509_issue.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <algorithm>
#include <span>

#include "shared/crypto/crypto.h"

namespace fedge::shared::x509 {
namespace {

constexpr long kClockSkewSeconds = 5 * 60;  // notBefore = now - 5 min

std::span<const uint8_t> BioBytes(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return {reinterpret_cast<const uint8_t*>(data), static_cast<size_t>(std::max(length, 0L))};
}

// A random 128-bit serial (top bit set, so it is always exactly 128 bits and positive).
Status SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return OpenSslFailure("RAND_bytes");
  bytes[0] |= 0x80;
  BnPtr serial(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (serial == nullptr ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) == nullptr) {
    return OpenSslFailure("cannot set a certificate serial number");
  }
  return Status::Ok();
}

Status SetSubject(X509* cert, const std::string& project, const CertSpec& spec) {
  X509_NAME* name = X509_get_subject_name(cert);
  auto add = [name](const char* field, std::string_view value) {
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.data()),
                                      static_cast<int>(value.size()), -1, 0) == 1;
  };
  if (!add("O", project) || (!spec.role.empty() && !add("OU", spec.role)) ||
      !add("CN", spec.common_name)) {
    return OpenSslFailure("cannot set the subject of " + spec.common_name);
  }
  return Status::Ok();
}

Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (extension == nullptr || X509_add_ext(cert, extension.get(), -1) != 1) {
    return OpenSslFailure(std::string("cannot add extension ") + OBJ_nid2sn(nid));
  }
  return Status::Ok();
}

// Built from GENERAL_NAMEs rather than a config string so that no host can inject other names.
Status AddSubjectAltNames(X509* cert, const std::vector<std::string>& hosts) {
  NamesPtr names(GENERAL_NAMES_new());
  if (names == nullptr) return OpenSslFailure("GENERAL_NAMES_new");
  for (const std::string& host : hosts) {
    GENERAL_NAME* name = GENERAL_NAME_new();
    if (name == nullptr) return OpenSslFailure("GENERAL_NAME_new");
    if (ASN1_OCTET_STRING* ip = a2i_IPADDRESS(host.c_str())) {
      GENERAL_NAME_set0_value(name, GEN_IPADD, ip);
    } else {
      ERR_clear_error();
      ASN1_IA5STRING* dns = ASN1_IA5STRING_new();
      if (dns == nullptr || ASN1_STRING_set(dns, host.data(), static_cast<int>(host.size())) != 1) {
        ASN1_IA5STRING_free(dns);
        GENERAL_NAME_free(name);
        return OpenSslFailure("cannot encode host " + host);
      }
      GENERAL_NAME_set0_value(name, GEN_DNS, dns);
    }
    if (sk_GENERAL_NAME_push(names.get(), name) <= 0) {
      GENERAL_NAME_free(name);
      return OpenSslFailure("sk_GENERAL_NAME_push");
    }
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return OpenSslFailure("cannot add subjectAltName");
  }
  return Status::Ok();
}

Status AddExtensions(X509* cert, X509* issuer, const CertSpec& spec) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  if (issuer == cert) {
    FEDGE_RETURN_IF_ERROR(
        AddExtension(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
    FEDGE_RETURN_IF_ERROR(AddExtension(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
    return AddExtension(cert, &ctx, NID_subject_key_identifier, "hash");
  }
  FEDGE_RETURN_IF_ERROR(AddExtension(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE"));
  FEDGE_RETURN_IF_ERROR(AddExtension(cert, &ctx, NID_key_usage, "critical,digitalSignature"));
  FEDGE_RETURN_IF_ERROR(AddExtension(cert, &ctx, NID_ext_key_usage, spec.extended_key_usage));
  FEDGE_RETURN_IF_ERROR(AddExtension(cert, &ctx, NID_subject_key_identifier, "hash"));
  FEDGE_RETURN_IF_ERROR(AddExtension(cert, &ctx, NID_authority_key_identifier, "keyid:always"));
  if (spec.alt_names.empty()) return Status::Ok();
  return AddSubjectAltNames(cert, spec.alt_names);
}

}  // namespace

Status OpenSslFailure(const std::string& what) {
  return Status::Internal(what + ": " + OpenSslErrors());
}

Result<PkeyPtr> GenerateKey() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (key == nullptr) return OpenSslFailure("cannot generate an EC P-256 key");
  return key;
}

// Issues a certificate for `key`, signed by `ca` (self-signed when ca.cert is null).
Result<X509Ptr> IssueCertificate(const CertSpec& spec, EVP_PKEY* key, const Authority& ca) {
  X509Ptr cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return OpenSslFailure("X509_new");
  }
  FEDGE_RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  FEDGE_RETURN_IF_ERROR(SetSubject(cert.get(), ca.project, spec));
  X509* issuer = ca.cert != nullptr ? ca.cert : cert.get();
  std::time_t now = ca.now;
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer)) != 1 ||
      X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0, -kClockSkewSeconds, &now) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), ca.validity_days, 0, &now) == nullptr ||
      X509_set_pubkey(cert.get(), key) != 1) {
    return OpenSslFailure("cannot fill the certificate of " + spec.common_name);
  }
  FEDGE_RETURN_IF_ERROR(AddExtensions(cert.get(), issuer, spec));
  EVP_PKEY* signing_key = ca.cert != nullptr ? ca.key : key;
  if (X509_sign(cert.get(), signing_key, EVP_sha256()) <= 0) {
    return OpenSslFailure("cannot sign the certificate of " + spec.common_name);
  }
  return cert;
}

Result<std::string> CertificatePem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslFailure("cannot encode a certificate as PEM");
  }
  std::span<const uint8_t> bytes = BioBytes(bio.get());
  return std::string(bytes.begin(), bytes.end());
}

// PKCS#8 PEM, unencrypted, mode 0600 from creation. The PEM text lives only in a secure-heap
// BIO that is wiped when freed.
Status WritePrivateKey(const std::filesystem::path& path, EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslFailure("cannot encode a private key as PEM");
  }
  return WriteNewFile(path.string(), BioBytes(bio.get()), 0600);
}

}  // namespace fedge::shared::x509
