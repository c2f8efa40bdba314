// x509-limbo harness: runs every test case of a limbo.json through pki::Verify and compares the
// outcome with the expected one.
//
//   limbo_harness LIMBO_JSON [--known-failures FILE] [--results OUT.json] [--verbose]
//
// Prints `limbo: N passed, M failed` as its last line (N = cases whose outcome is the expected
// one). Exits 0 only if every case outside the known-failures list ends as expected and every
// case on that list still fails (so the list stays honest); 2 on a usage or input error.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/time.h"
#include "pki/certificate.h"
#include "pki/crl.h"
#include "pki/verify.h"

namespace {

using clustertls::core::TimePoint;
using clustertls::pki::Certificate;
using clustertls::pki::Crl;
using clustertls::pki::Purpose;
using clustertls::pki::VerifyOptions;
using clustertls::pki::VerifyReport;
using Json = nlohmann::json;

constexpr const char* kHarnessName = "clustertls";

struct Args {
  std::string limbo_path;
  std::optional<std::string> known_failures_path;
  std::optional<std::string> results_path;
  bool verbose = false;
};

struct CaseResult {
  std::string id;
  std::string expected;  // SUCCESS | FAILURE
  std::string actual;    // SUCCESS | FAILURE | SKIPPED
  std::string context;
};

[[noreturn]] void Usage(const std::string& why) {
  std::cerr << "limbo_harness: " << why << "\n"
            << "usage: limbo_harness LIMBO_JSON [--known-failures FILE] [--results OUT.json] "
               "[--verbose]\n";
  std::exit(2);
}

Args ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        Usage(a + " needs a value");
      }
      return argv[++i];
    };
    if (a == "--known-failures") {
      args.known_failures_path = value();
    } else if (a == "--results") {
      args.results_path = value();
    } else if (a == "--verbose" || a == "-v") {
      args.verbose = true;
    } else if (a == "--help" || a == "-h") {
      Usage("help");
    } else if (!a.empty() && a[0] == '-') {
      Usage("unknown option " + a);
    } else if (args.limbo_path.empty()) {
      args.limbo_path = a;
    } else {
      Usage("unexpected argument " + a);
    }
  }
  if (args.limbo_path.empty()) {
    Usage("missing LIMBO_JSON");
  }
  return args;
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// known_failures.txt: one `<id>  # reason` per line; blank lines and lines starting with '#'
// are ignored. Returns id -> reason.
std::map<std::string, std::string> ParseKnownFailures(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') {
      continue;
    }
    std::string reason;
    auto hash = line.find('#', first);
    std::string id = line.substr(first, hash == std::string::npos ? hash : hash - first);
    if (hash != std::string::npos) {
      reason = line.substr(hash + 1);
      reason.erase(0, reason.find_first_not_of(" \t"));
    }
    id.erase(id.find_last_not_of(" \t\r") + 1);
    out[id] = reason;
  }
  return out;
}

// A time inside the validity of every certificate of the case (limbo's rule for a null
// validation_time): one day after the latest notBefore (or the middle of a shorter overlap);
// when their validity periods do not all overlap, the same inside the leaf's and the anchors'.
TimePoint TimeInsideValidity(const std::vector<Certificate>& all,
                             const std::vector<Certificate>& core) {
  for (const auto* set : {&all, &core}) {
    if (set->empty()) {
      continue;
    }
    TimePoint lo = TimePoint::min();
    TimePoint hi = TimePoint::max();
    for (const Certificate& c : *set) {
      lo = std::max(lo, c.not_before());
      hi = std::min(hi, c.not_after());
    }
    if (lo <= hi) {
      // One day in, or the middle of a shorter overlap.
      return hi - lo > std::chrono::days(2) ? lo + std::chrono::days(1) : lo + (hi - lo) / 2;
    }
  }
  return core.empty() ? TimePoint() : core.front().not_before();
}

// Runs one test case. Throws nlohmann::json exceptions on a malformed case.
CaseResult RunCase(const Json& tc) {
  CaseResult r;
  r.id = tc.at("id").get<std::string>();
  r.expected = tc.at("expected_result").get<std::string>();
  std::vector<std::string> notes;

  auto parse_certs = [&](const Json& list, const char* what) {
    std::vector<Certificate> out;
    for (const Json& pem : list) {
      auto cert = Certificate::FromPem(pem.get<std::string>());
      if (cert) {
        out.push_back(*cert);
      } else {
        notes.push_back(std::string(what) + " not loaded: " + cert.error().message);
      }
    }
    return out;
  };

  VerifyOptions options;
  options.anchors = parse_certs(tc.at("trusted_certs"), "trust anchor");
  options.untrusted = parse_certs(tc.at("untrusted_intermediates"), "intermediate");
  auto leaf = Certificate::FromPem(tc.at("peer_certificate").get<std::string>());
  if (!leaf) {
    r.actual = "FAILURE";
    r.context = "peer certificate not loaded: " + leaf.error().message;
    return r;
  }
  for (const Json& pem : tc.value("crls", Json::array())) {
    auto crl = Crl::Parse(pem.get<std::string>());
    if (!crl) {
      // A CRL we cannot read means revocation cannot be checked: fail closed.
      r.actual = "FAILURE";
      r.context = "CRL not loaded: " + crl.error().message;
      return r;
    }
    options.crls.push_back(*crl);
  }

  const std::string kind = tc.at("validation_kind").get<std::string>();
  options.purpose = kind == "CLIENT" ? Purpose::kClient : Purpose::kServer;
  for (const Json& eku : tc.value("extended_key_usage", Json::array())) {
    const std::string name = eku.get<std::string>();
    if (name == "serverAuth") {
      options.purpose = Purpose::kServer;
    } else if (name == "clientAuth") {
      options.purpose = Purpose::kClient;
    } else {
      notes.push_back("extended key usage '" + name + "' not checked");
    }
  }

  auto add_peer_name = [&](const Json& name) {
    const std::string k = name.at("kind").get<std::string>();
    const std::string v = name.at("value").get<std::string>();
    if (k == "DNS") {
      options.host = v;
    } else if (k == "IP") {
      options.ip = v;
    } else if (k == "RFC822") {
      options.emails.push_back(v);
    } else {
      notes.push_back("peer name kind '" + k + "' not checked");
    }
  };
  if (const Json& name = tc.at("expected_peer_name"); !name.is_null()) {
    add_peer_name(name);
  }
  for (const Json& name : tc.value("expected_peer_names", Json::array())) {
    add_peer_name(name);
  }

  if (const Json& depth = tc.at("max_chain_depth"); !depth.is_null()) {
    options.max_depth = depth.get<int>();
  }

  if (const Json& t = tc.at("validation_time"); !t.is_null()) {
    auto at = clustertls::core::ParseTime(t.get<std::string>());
    if (!at) {
      r.actual = "SKIPPED";
      r.context = at.error().message;
      return r;
    }
    options.at = *at;
  } else {
    std::vector<Certificate> all = options.anchors;
    all.insert(all.end(), options.untrusted.begin(), options.untrusted.end());
    all.push_back(*leaf);
    std::vector<Certificate> core = options.anchors;
    core.insert(core.begin(), *leaf);
    options.at = TimeInsideValidity(all, core);
  }

  VerifyReport report = clustertls::pki::Verify(*leaf, options);
  r.actual = report.ok() ? "SUCCESS" : "FAILURE";
  for (const auto& p : report.problems) {
    notes.push_back(p.code + "@" + std::to_string(p.depth) + ": " + p.message);
  }
  for (std::size_t i = 0; i < notes.size(); ++i) {
    r.context += (i ? "; " : "") + notes[i];
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);

  auto text = ReadFile(args.limbo_path);
  if (!text) {
    std::cerr << "limbo_harness: cannot read " << args.limbo_path
              << " (the x509-limbo test vectors are kept in the repository as tests/limbo/limbo.json)\n";
    return 2;
  }
  Json limbo;
  try {
    limbo = Json::parse(*text);
  } catch (const Json::exception& e) {
    std::cerr << "limbo_harness: " << args.limbo_path << ": not valid JSON: " << e.what() << "\n";
    return 2;
  }
  if (!limbo.contains("testcases") || !limbo["testcases"].is_array()) {
    std::cerr << "limbo_harness: " << args.limbo_path << ": no \"testcases\" array\n";
    return 2;
  }

  std::map<std::string, std::string> known;
  if (args.known_failures_path) {
    auto kf = ReadFile(*args.known_failures_path);
    if (!kf) {
      std::cerr << "limbo_harness: cannot read " << *args.known_failures_path << "\n";
      return 2;
    }
    known = ParseKnownFailures(*kf);
  }

  std::vector<CaseResult> results;
  for (const Json& tc : limbo["testcases"]) {
    try {
      results.push_back(RunCase(tc));
    } catch (const Json::exception& e) {
      CaseResult r;
      r.id = tc.value("id", std::string("<no id>"));
      r.expected = tc.value("expected_result", std::string("?"));
      r.actual = "SKIPPED";
      r.context = std::string("malformed test case: ") + e.what();
      results.push_back(r);
    }
  }

  if (args.results_path) {
    Json out = {{"version", 1}, {"harness", kHarnessName}, {"results", Json::array()}};
    for (const CaseResult& r : results) {
      out["results"].push_back({{"id", r.id}, {"actual_result", r.actual}, {"context", r.context}});
    }
    std::ofstream f(*args.results_path, std::ios::binary | std::ios::trunc);
    f << out.dump(2) << "\n";
    if (!f) {
      std::cerr << "limbo_harness: cannot write " << *args.results_path << "\n";
      return 2;
    }
  }

  int passed = 0;
  int failed = 0;
  std::vector<std::string> unexpected;  // fail, not listed
  std::vector<std::string> fixed;       // listed, but now as expected
  std::vector<std::string> known_seen;  // fail, listed
  std::set<std::string> ids;
  for (const CaseResult& r : results) {
    ids.insert(r.id);
    bool as_expected = r.actual == r.expected;
    bool listed = known.contains(r.id);
    std::string line = r.id + ": expected " + r.expected + ", got " + r.actual +
                       (r.context.empty() ? "" : " (" + r.context + ")");
    if (as_expected) {
      ++passed;
      if (listed) {
        fixed.push_back(r.id);
      }
    } else {
      ++failed;
      (listed ? known_seen : unexpected).push_back(line);
    }
  }
  std::vector<std::string> stale;
  for (const auto& [id, reason] : known) {
    if (!ids.contains(id)) {
      stale.push_back(id);
    }
  }

  if (args.verbose) {
    for (const std::string& l : known_seen) {
      std::cout << "known failure  " << l << "\n";
    }
  }
  for (const std::string& l : unexpected) {
    std::cout << "UNEXPECTED     " << l << "\n";
  }
  for (const std::string& id : fixed) {
    std::cout << "NOW PASSES     " << id << " (remove it from the known failures)\n";
  }
  for (const std::string& id : stale) {
    std::cout << "UNKNOWN ID     " << id << " (listed as known failure, not in the test file)\n";
  }
  std::cout << "limbo: " << passed << " passed, " << failed << " failed" << std::endl;
  bool honest = !args.known_failures_path || (unexpected.empty() && fixed.empty() && stale.empty());
  return honest ? 0 : 1;
}
