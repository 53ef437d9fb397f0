#include "virt/job_stats.hpp"

#include "virt/job_keys.hpp"

namespace vmp::virt {

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
  auto op = number(job::kOperation);
  return !op || *op == job::kOperationMigrationOut;
}

bool JobStats::migrating_in() const {
  auto op = number(job::kOperation);
  return op && *op == job::kOperationMigrationIn;
}

}  // namespace vmp::virt
