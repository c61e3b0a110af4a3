// Short human descriptions of sets of Llama tensor names, for command-line reports.
#pragma once

#include <span>
#include <string>

namespace mei::tools {

// Describes `names`, a subset of `all` (Hugging Face Llama names), as "none", "all", or a list
// of patterns: a whole layer ("model.layers.7.*"), a tensor of every layer
// ("model.layers.*.mlp.up_proj.weight"), a module of every layer ("model.layers.*.self_attn.*"),
// every layer ("model.layers.*"), or a name. Thread-safe.
[[nodiscard]] std::string SummarizeTensorNames(std::span<const std::string> names,
                                               std::span<const std::string> all);

}  // namespace mei::tools
