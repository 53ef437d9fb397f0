// --drain: each domain's own prediction (made with the shared link as its link) in, the plan
// for evacuating them all over that link out.
#pragma once

#include <vector>

#include "report/drain.hpp"
#include "report/report.hpp"

namespace vmp::predict {

// Most migrations at once --concurrent accepts, and the most the advice tries.
inline constexpr int kMaxConcurrent = 16;

// `reports`: one per measured domain, each with a prediction (the link known); `failures`: the
// domains that could not be measured. The plan at `concurrent`, and at 1..the number of
// domains (up to kMaxConcurrent) for the advice.
report::DrainReport plan_drain(std::vector<report::Report> reports,
                               std::vector<report::DrainFailure> failures,
                               double link_bytes_per_s, int concurrent);

}  // namespace vmp::predict
