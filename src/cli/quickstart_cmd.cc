// `clustertls quickstart`: Sensu's `ssl_certs.sh generate` — a CA, a server and a client
// certificate, and what to do next.
#include <filesystem>
#include <memory>

#include "cli/common.h"
#include "cli/offline_ca.h"
#include "cli/output.h"
#include "cli/summary.h"

namespace clustertls::cli {
namespace {

struct QuickstartOptions {
  std::string out;
  int days = 1825;
  std::string name = "clustertls CA";
  std::string subject;
  std::vector<std::string> dns;
  std::string key_type = "ec-p256";
  std::string passphrase_file;
  std::string owner;
  bool force = false;
};

core::Result<int> RunQuickstart(const QuickstartOptions& o, Context& ctx) {
  CTLS_ASSIGN_OR_RETURN(auto owner, OwnerOption(o.owner));
  CTLS_ASSIGN_OR_RETURN(pki::SubjectAttributes subject,
                        SubjectAttributesOption(o.subject, "",
                                                "quickstart sets the CNs itself (the CA: --name, "
                                                "the server: the first --dns or localhost, the "
                                                "client: client)"));
  const std::string ca_crt = JoinPath(o.out, "ca/ca.crt");
  const std::string ca_key = JoinPath(o.out, "ca/ca.key");
  const std::string server_crt = JoinPath(o.out, "server/server.crt");
  const std::string server_key = JoinPath(o.out, "server/server.key");
  const std::string client_crt = JoinPath(o.out, "client/client.crt");
  const std::string client_key = JoinPath(o.out, "client/client.key");
  {
    OutputSet planned;
    for (const auto& p : {ca_crt, server_crt, client_crt}) {
      planned.AddPublic(p, "");
    }
    for (const auto& p : {ca_key, server_key, client_key}) {
      planned.AddPrivate(p, "");
    }
    CTLS_RETURN_IF_ERROR(planned.Check(o.force));
  }
  CTLS_ASSIGN_OR_RETURN(auto passphrase, ReadOptionalPassphrase(o.passphrase_file));
  CTLS_ASSIGN_OR_RETURN(pki::KeyType type, pki::ParseKeyType(o.key_type));
  const core::TimePoint now = ctx.clock.Now();

  // The CA outlives what it issues by a day, so a leaf never reaches past its issuer.
  CTLS_ASSIGN_OR_RETURN(pki::PrivateKey ca_k, pki::PrivateKey::Generate(type));
  CTLS_ASSIGN_OR_RETURN(pki::Certificate ca_cert,
                        pki::SelfSign(ca_k,
                                      {.profile = pki::Profile::kRootCa,
                                       .common_name = o.name,
                                       .subject_extra = subject,
                                       .validity = std::chrono::days(o.days + 1)},
                                      now, ctx.rng));
  CTLS_ASSIGN_OR_RETURN(pki::Issuer issuer, pki::Issuer::Create(ca_cert, ca_k));

  pki::SubjectAltNames server_sans{.dns = {"localhost"}, .ips = {"127.0.0.1", "::1"}};
  for (const auto& d : o.dns) {
    server_sans.dns.push_back(d);
  }
  CTLS_ASSIGN_OR_RETURN(pki::PrivateKey server_k, pki::PrivateKey::Generate(type));
  auto server_cert = issuer.Issue({.profile = pki::Profile::kServer,
                                   .common_name = o.dns.empty() ? "localhost" : o.dns.front(),
                                   .subject_extra = subject,
                                   .sans = server_sans,
                                   .validity = std::chrono::days(o.days)},
                                  server_k.public_key(), now, ctx.rng);
  if (!server_cert) {
    return server_cert.error().WithContext("--dns");
  }
  CTLS_ASSIGN_OR_RETURN(pki::PrivateKey client_k, pki::PrivateKey::Generate(type));
  CTLS_ASSIGN_OR_RETURN(pki::Certificate client_cert,
                        issuer.Issue({.profile = pki::Profile::kClient,
                                      .common_name = "client",
                                      .subject_extra = subject,
                                      .validity = std::chrono::days(o.days)},
                                     client_k.public_key(), now, ctx.rng));

  OutputSet outputs;
  outputs.AddPublic(ca_crt, ca_cert.ToPem());
  CTLS_ASSIGN_OR_RETURN(std::string ca_key_pem, KeyPem(ca_k, passphrase));
  // The CA key is never given to --owner: a service that reads its own key must not be able to
  // sign certificates.
  outputs.Add({.path = ca_key,
               .data = std::move(ca_key_pem),
               .mode = core::kPrivateFileMode,
               .keep_owner = true});
  outputs.AddPublic(server_crt, LeafWithChainPem(*server_cert, issuer));
  CTLS_ASSIGN_OR_RETURN(std::string server_key_pem, server_k.ToPem());
  outputs.AddPrivate(server_key, std::move(server_key_pem));
  outputs.AddPublic(client_crt, LeafWithChainPem(client_cert, issuer));
  CTLS_ASSIGN_OR_RETURN(std::string client_key_pem, client_k.ToPem());
  outputs.AddPrivate(client_key, std::move(client_key_pem));
  CTLS_RETURN_IF_ERROR(outputs.Commit({.force = o.force, .owner = owner}));
  RecordIssued(ca_crt, ca_cert, {IssuedEntry(*server_cert), IssuedEntry(client_cert)}, ctx);

  auto abs = [](const std::string& p) {
    std::error_code ec;
    auto a = std::filesystem::absolute(p, ec);
    return ec ? p : a.lexically_normal().string();
  };
  pki::Fingerprint fp = ca_cert.fingerprint();
  ctx.Info("clustertls quickstart: a CA, a server and a client certificate in " + o.out);
  ctx.Info("");
  ctx.Info("  CA certificate      " + ca_crt);
  ctx.Info("  CA key              " + ca_key + (passphrase ? " (encrypted" : " (keep it secret") +
           (owner ? "; yours, mode 0600: --owner is not applied to it)" : ")"));
  ctx.Info("  server certificate  " + server_crt + "  (" + JoinSans(server_cert->sans()) + ")");
  ctx.Info("  server key          " + server_key + "  (" + KeyModeNote(owner) + ")");
  ctx.Info("  client certificate  " + client_crt + "  (" + client_cert.subject() + ", clientAuth)");
  ctx.Info("  client key          " + client_key + "  (" + KeyModeNote(owner) + ")");
  ctx.Info("");
  ctx.Info("  Valid until         " + DescribeNotAfter(server_cert->not_after(), now));
  ctx.Info("  CA SHA-256          " + fp.colon);
  ctx.Info("  CA SHA-256 (hex)    " + fp.hex + "   (Elastic's ca_trusted_fingerprint)");
  ctx.Info("");
  ctx.Info("Next steps:");
  ctx.Info("  1. Try a mutual-TLS handshake:");
  ctx.Info("     openssl s_server -accept 8443 -cert " + abs(server_crt) + " -key " +
           abs(server_key) + " -CAfile " + abs(ca_crt) + " -Verify 1");
  ctx.Info("     openssl s_client -connect localhost:8443 -cert " + abs(client_crt) + " -key " +
           abs(client_key) + " -CAfile " + abs(ca_crt) + " -verify_return_error");
  ctx.Info("  2. RabbitMQ (rabbitmq.conf), as Sensu's guide sets it up:");
  ctx.Info("     listeners.ssl.default = 5671");
  ctx.Info("     ssl_options.cacertfile = " + abs(ca_crt));
  ctx.Info("     ssl_options.certfile = " + abs(server_crt));
  ctx.Info("     ssl_options.keyfile = " + abs(server_key));
  ctx.Info("     ssl_options.verify = verify_peer");
  ctx.Info("     ssl_options.fail_if_no_peer_cert = true");
  if (owner) {
    ctx.Info("     The server and client files belong to " + owner->spec +
             (owner->has_group() ? " (keys 0640: the group reads them)" : " (keys 0600)") +
             ", so a service running as that user or group can read its key.");
  } else {
    ctx.Info("     RabbitMQ runs as the rabbitmq user and cannot read a key that is 0600 root's:");
    ctx.Info("     re-run with --owner root:rabbitmq (keys 0640, group rabbitmq), or:");
    ctx.Info("     chgrp rabbitmq " + abs(server_key) + " && chmod 0640 " + abs(server_key));
    ctx.Info(
        "     The same for redis (tls-key-file, --owner root:redis); nginx reads its keys as "
        "root before it drops privileges: nothing to do.");
  }
  ctx.Info("  3. One certificate per client, so each can be revoked alone:");
  ctx.Info("     clustertls cert issue --ca-cert " + ca_crt + " --ca-key " + ca_key +
           " --name client2 --profile client --out " + JoinPath(o.out, "client2"));
  ctx.Info("     Revoke one and publish the CRL (RabbitMQ's crl_check, nginx's ssl_crl):");
  ctx.Info("     clustertls ca revoke --ca-dir " + JoinPath(o.out, "ca") + " " +
           JoinPath(o.out, "client2/client2.crt") + " --reason keyCompromise");
  ctx.Info("     clustertls ca crl --ca-dir " + JoinPath(o.out, "ca") + " --out " +
           JoinPath(o.out, "ca/crl.pem") + " --force");
  ctx.Info("  4. Check a certificate: clustertls verify " + server_crt + " --ca " + ca_crt +
           " --host localhost --purpose server");
  return 0;
}

}  // namespace

void AddQuickstartCommand(CLI::App& app, Action* action) {
  auto o = std::make_shared<QuickstartOptions>();
  CLI::App* cmd = app.add_subcommand(
      "quickstart",
      "Sensu's `ssl_certs.sh generate` in one step: a CA (DIR/ca/ca.crt, ca.key), a server\n"
      "certificate (DIR/server/server.crt, server.key; names localhost, 127.0.0.1, ::1 and\n"
      "every --dns) and a client certificate (DIR/client/client.crt, client.key), valid 5\n"
      "years by default; then prints the paths, the CA fingerprint and next steps.");
  cmd->add_option("--out", o->out, "output directory (created if missing)")->required();
  cmd->add_option("--days", o->days,
                  "validity of the server and client certificates in days (default: 1825, 5 "
                  "years; the CA lives one day longer)")
      ->check(CLI::Range(1, 36500));
  cmd->add_option("--name", o->name, "the CA's common name (default: \"clustertls CA\")");
  AddSubjectOption(cmd, o->subject, "the CA, server and client certificates (no CN)");
  AddRepeated(cmd, "--dns", o->dns,
              "extra DNS name of the server certificate (the first is its common name)");
  cmd->add_option("--key-type", o->key_type, KeyTypeHelp())->check(KeyTypeValidator());
  cmd->add_option("--passphrase-file", o->passphrase_file,
                  "encrypt ca/ca.key with this passphrase (whole content, one trailing newline "
                  "ignored)");
  AddOwnerOption(cmd, o->owner)
      ->description(
          "give the server and client files and ca/ca.crt to USER[:GROUP] (chown; needs root), "
          "for a service that runs as its own user: --owner rabbitmq makes keys owner rabbitmq, "
          "mode 0600; --owner root:rabbitmq (or :rabbitmq) makes keys 0640, readable by the "
          "group. ca/ca.key is never given away (it stays yours, 0600)");
  cmd->add_flag("--force", o->force, "overwrite existing files");
  cmd->callback([o, action] {
    *action = [o](Context& ctx) { return RunQuickstart(*o, ctx); };
  });
}

}  // namespace clustertls::cli
