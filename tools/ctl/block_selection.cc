#include "tools/ctl/block_selection.h"

#include <fmt/format.h>

#include <boost/json.hpp>

#include "tools/ctl/table.h"

namespace mei::tools {

namespace json = boost::json;

Result<BlockSelection> ParseBlockSelection(std::string_view model,
                                           const std::vector<std::string>& blocks) {
  if (model.empty() == blocks.empty()) {
    return Error{Errc::kBadRequest, "name either a MODEL[@REV] or one or more --block ID, not " +
                                        std::string(model.empty() ? "neither" : "both")};
  }
  BlockSelection selection;
  if (!model.empty()) {
    auto ref = ParseModelRef(model);
    if (!ref) return ref.error();
    selection.model = std::move(*ref);
    return selection;
  }
  for (const std::string& text : blocks) {
    auto id = BlockId::FromHex(text);
    if (!id) return Error{Errc::kBadBlockId, fmt::format("--block: {}", id.error().message)};
    selection.blocks.push_back(*id);
  }
  return selection;
}

std::string SelectionBody(const BlockSelection& selection) {
  if (selection.model) {
    return json::serialize(
        json::object{{"model", selection.model->model}, {"revision", selection.model->revision}});
  }
  json::array ids;
  for (const BlockId& id : selection.blocks) ids.push_back(json::string(id.Hex()));
  return json::serialize(json::object{{"blocks", std::move(ids)}});
}

std::string Describe(const BlockSelection& selection) {
  if (selection.model) return selection.model->model + "@" + selection.model->revision;
  return fmt::format("{} block{}", selection.blocks.size(),
                     selection.blocks.size() == 1 ? "" : "s");
}

}  // namespace mei::tools
