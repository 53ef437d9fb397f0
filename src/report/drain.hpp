// A drain plan (--drain): the evacuation of several domains over one link, for people and
// scripts. The plan itself is model/drain.hpp's; this is what the tool says about it.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "model/drain.hpp"
#include "report/report.hpp"

namespace vmp::report {

// A domain that could not be measured: not in the plan, its error said.
struct DrainFailure {
  std::string subject;
  std::string message;
  int status = 1;
  std::string key;
};

// The plan at another number of migrations at once, for the advice.
struct DrainAlternative {
  int concurrent = 1;
  double total_ms = 0;
  bool all_converge = true;
};

struct DrainReport {
  model::DrainPlan plan;
  std::vector<Report> domains;  // plan's domain indices index this: each one's own prediction
  std::vector<DrainFailure> failures;
  std::vector<DrainAlternative> alternatives;  // concurrent = 1.. the number planned
  // The plan's order and slots run again with every domain at its prediction interval's
  // favourable (low) and unfavourable (high) end together: the drain's interval, wider than any
  // one domain's. Absent when a domain in the plan has no interval.
  std::optional<model::DrainPlan> low;
  std::optional<model::DrainPlan> high;
};

// A figure's interval in a drain (a migration's time, the total): from the plan run at the two
// ends, widened to hold the plan's own figure. A drain is not monotonic in its domains' speeds:
// at the favourable end a migration that returns sooner starts the next one sooner, beside
// another still sending, which then takes longer (a hot guest near its threshold: 2026-12-07,
// the plan 13.5 s, the two ends 14.1 and 17.4 s). high: nullopt where the unfavourable end does
// not converge.
struct DrainInterval {
  double low = 0;
  std::optional<double> high;
};
DrainInterval drain_interval(double plan, double low, std::optional<double> high);

// The same --concurrent with the shortest total, when it is at least 10% shorter than the
// plan's and every migration converges in it.
const DrainAlternative* faster_alternative(const DrainReport& report);

void write_drain_human(std::ostream& out, const DrainReport& report);
nlohmann::json drain_to_json(const DrainReport& report);

}  // namespace vmp::report
