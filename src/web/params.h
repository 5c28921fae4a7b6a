#pragma once
// Query parameters of the console API, checked strictly: a bad value, a repeated single-valued
// parameter or an unknown name is an error naming the parameter (the API answers 400).
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "store/store.h"
#include "web/api.h"

namespace vigil::web {

// Every parameter is one of `known` (plus "token", which access control reads).
Result<void> only_known_params(const ApiRequest& request, std::initializer_list<std::string_view> known);

// The single value of `name`; nullopt when absent; an error when given twice.
Result<std::optional<std::string>> single_param(const ApiRequest& request, std::string_view name);
std::vector<std::string> repeated_param(const ApiRequest& request, std::string_view name);

// RFC 3339 ("2026-11-23T18:00:00Z", "...00.5+01:00") or Unix seconds ("1795456800.25"), as ns.
Result<std::int64_t> parse_time_ns(std::string_view text);
Result<std::optional<std::int64_t>> time_param(const ApiRequest& request, std::string_view name);
// A decimal integer in [min, max].
Result<std::optional<std::int64_t>> int_param(const ApiRequest& request, std::string_view name, std::int64_t min,
                                              std::int64_t max);
// `limit` (1..1000, default 100) and `before` (an id).
Result<store::Paging> paging_params(const ApiRequest& request);
// A Falco priority name -> its level (0 emergency ... 7 debug).
Result<std::optional<int>> priority_param(const ApiRequest& request);
// "host" -> "" (the store's host), else a container id of 1..64 of [0-9A-Za-z_.-].
Result<std::optional<std::string>> container_param(const ApiRequest& request);
bool valid_container_id(std::string_view id);

}  // namespace vigil::web
