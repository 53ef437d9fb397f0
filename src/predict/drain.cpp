#include "predict/drain.hpp"

#include <algorithm>

#include "base/error.hpp"

namespace vmp::predict {

report::DrainReport plan_drain(std::vector<report::Report> reports,
                               std::vector<report::DrainFailure> failures, double link,
                               int concurrent) {
  // One domain's migration as the plan runs it: its own cap, if it has one; without, the link
  // decides (shared now).
  auto planned = [](const report::Report& r, const model::PrecopyInput& input,
                    const model::DirtyCurve& curve, double after_ms) {
    model::DrainDomain d;
    d.name = r.subject;
    d.input = input;
    d.input.bandwidth_bytes_per_s =
        r.settings.bandwidth_is_link ? 0 : *r.settings.bandwidth_bytes_per_s.value;
    d.input.link_bytes_per_s = 0;
    d.curve = curve;
    d.after_ms = after_ms;
    return d;
  };
  std::vector<model::DrainDomain> domains, lows, highs;
  bool ends = true;
  for (const auto& r : reports) {
    if (!r.model_input) throw RuntimeError(r.subject + ": no prediction to plan with");
    domains.push_back(planned(r, *r.model_input, r.curve, r.libvirt_steps.after_ms));
    ends = ends && r.low_end && r.high_end;
    if (!ends) continue;
    lows.push_back(planned(r, r.low_end->input, r.low_end->curve, r.libvirt_steps.after_low_ms));
    highs.push_back(
        planned(r, r.high_end->input, r.high_end->curve, r.libvirt_steps.after_high_ms));
  }
  report::DrainReport out;
  out.plan = model::plan_drain(domains, link, concurrent);
  if (ends) {
    // The plan as it stands (its order, who runs alone), at the two ends.
    std::vector<std::size_t> order;
    std::vector<bool> alone(domains.size(), false);
    for (const auto& m : out.plan.migrations) {
      order.push_back(m.domain);
      alone[m.domain] = m.alone;
    }
    out.low = model::simulate_drain(lows, order, alone, link, concurrent);
    out.high = model::simulate_drain(highs, order, alone, link, concurrent);
  }
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
