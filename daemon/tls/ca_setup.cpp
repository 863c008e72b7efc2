#include "tls/ca_setup.hpp"

#include "core/log.hpp"
#include "store/crypto.hpp"

namespace courtroute::tls {

std::vector<std::string> ca_names_for(const registry& reg) { return ca_permitted_names(reg.hosts()); }

secret_box ca_key_box(const settings& cfg) { return secret_box::from_key_file(cfg.effective_key_file(), true); }

std::shared_ptr<const local_ca> open_local_ca(const settings& cfg, const registry& reg) {
    const secret_box box = ca_key_box(cfg);
    return std::make_shared<const local_ca>(local_ca::open_or_create(cfg.state_dir, box, ca_names_for(reg)));
}

std::vector<ca_problem> ca_problems(const local_ca& ca, const registry& reg) {
    std::vector<ca_problem> out;
    const ca_paths paths(ca.cert_path().parent_path().parent_path());
    if (!ca.constrained())
        out.push_back({"ca_unconstrained", ca.cert_path().string(), "",
                       "this local CA has no name constraints: a client trusting it would accept it for any "
                       "site; run `courtroute ca --rotate` and trust the new CA instead"});
    if (ca.plain_key_present())
        out.push_back({"ca_plain_key", paths.plain_key.string(), "",
                       "a CA private key is stored in clear; run `courtroute ca --rotate` to replace it with a "
                       "constrained CA whose key is sealed with the store key"});
    for (const auto& c : reg.courts()) {
        std::vector<std::string> hosts{c.host};
        hosts.insert(hosts.end(), c.extra_hosts.begin(), c.extra_hosts.end());
        for (const auto& h : hosts)
            if (!ca.permits(h))
                out.push_back({"ca_host_not_permitted", h, c.id,
                               "the local CA may not sign for this registry host, so CONNECTs to it are refused; run "
                               "`courtroute ca --rotate`, trust the new CA, then reload the daemon"});
    }
    return out;
}

void log_ca_problems(const local_ca& ca, const registry& reg) {
    for (const auto& p : ca_problems(ca, reg)) {
        if (p.court.empty())
            log::event(p.event, {{"file", p.subject}, {"action", p.advice}});
        else
            log::event(p.event, {{"host", p.subject}, {"court", p.court}, {"action", p.advice}});
    }
}

} // namespace courtroute::tls
