#include "watch/job_stats.hpp"

#include "virt/job_keys.hpp"

namespace vmp::watch {

std::optional<double> JobStats::number(std::string_view key) const {
  auto it = numbers.find(std::string(key));
  if (it == numbers.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> JobStats::string(std::string_view key) const {
  auto it = strings.find(std::string(key));
  if (it == strings.end()) return std::nullopt;
  return it->second;
}

bool JobStats::migrating_out() const {
  auto op = number(virt::job::kOperation);
  return !op || *op == virt::job::kOperationMigrationOut;
}

bool JobStats::migrating_in() const {
  auto op = number(virt::job::kOperation);
  return op && *op == virt::job::kOperationMigrationIn;
}

}  // namespace vmp::watch
