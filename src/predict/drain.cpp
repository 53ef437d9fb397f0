#include "predict/drain.hpp"

#include <algorithm>

#include "base/error.hpp"

namespace vmp::predict {

report::DrainReport plan_drain(std::vector<report::Report> reports,
                               std::vector<report::DrainFailure> failures, double link,
                               int concurrent) {
  std::vector<model::DrainDomain> domains;
  for (const auto& r : reports) {
    if (!r.model_input) throw RuntimeError(r.subject + ": no prediction to plan with");
    model::DrainDomain d;
    d.name = r.subject;
    d.input = *r.model_input;
    // Its own cap, if it has one; without, the link decides (shared now).
    d.input.bandwidth_bytes_per_s =
        r.settings.bandwidth_is_link ? 0 : *r.settings.bandwidth_bytes_per_s.value;
    d.input.link_bytes_per_s = 0;
    d.curve = r.curve;
    d.after_ms = r.libvirt_steps.after_ms;
    domains.push_back(std::move(d));
  }
  report::DrainReport out;
  out.plan = model::plan_drain(domains, link, concurrent);
  const int most = std::min<int>(kMaxConcurrent, std::max<std::size_t>(1, domains.size()));
  for (int k = 1; k <= most; ++k) {
    const auto plan = k == concurrent ? out.plan : model::plan_drain(domains, link, k);
    out.alternatives.push_back({k, plan.total_ms, plan.all_converge});
  }
  out.domains = std::move(reports);
  out.failures = std::move(failures);
  return out;
}

}  // namespace vmp::predict
