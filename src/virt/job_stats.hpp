// libvirt's statistics of a domain's job (virDomainGetJobStats), behind one narrow interface: the
// libvirt call in production, a recorded sequence in tests.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "virt/errors.hpp"

namespace vmp::virt {

// What virDomainGetJobStats returns: the job type and its typed parameters by name
// (VIR_DOMAIN_JOB_*: "time_elapsed", "memory_remaining", ...).
struct JobStats {
  int type =
      0;  // virDomainJobType: 0 none, 1 bounded, 2 unbounded, 3 completed, 4 failed, 5 cancelled
  std::map<std::string, double> numbers;
  std::map<std::string, std::string> strings;  // "errmsg"

  std::optional<double> number(std::string_view key) const;
  std::optional<std::string> string(std::string_view key) const;
  bool running() const { return type == 1 || type == 2; }
  // The job is an outgoing migration (VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT). libvirt names the
  // operation from 3.3 on; an older one that does not is taken to be migrating out.
  bool migrating_out() const;
  bool migrating_in() const;
};

// As recordings keep it: {"type": 3, "time_elapsed": 390, "errmsg": "...", ...}, flat.
nlohmann::json job_stats_to_json(const JobStats& s);
JobStats job_stats_from_json(const nlohmann::json& j);

class JobStatsReader {
 public:
  virtual ~JobStatsReader() = default;
  // The job running now; with `completed`, the last one that ended
  // (VIR_DOMAIN_JOB_STATS_COMPLETED), type 0 when libvirt kept none. Throws DomainGone,
  // ConnectionLost or RuntimeError.
  virtual JobStats read(bool completed) = 0;
};


}  // namespace vmp::virt
