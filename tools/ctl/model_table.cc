#include "tools/ctl/model_table.h"

#include <boost/json.hpp>

#include "common/byte_size.h"
#include "tools/ctl/reply_fields.h"

namespace mei::tools {

Table ModelTable(const boost::json::array& models) {
  Table table({{"MODEL"},
               {"REVISION"},
               {"COMMIT"},
               {"SIZE", Align::kRight},
               {"HELD", Align::kRight},
               {"COMPLETE", Align::kRight},
               {"PLANNED"}});
  for (const boost::json::value& entry : models) {
    const boost::json::object& model = AsObject(entry);
    table.AddRow({StringAt(model, "model"), StringAt(model, "revision"),
                  ShortCommit(StringAt(model, "commit")), FormatByteSize(UintAt(model, "bytes")),
                  FormatByteSize(UintAt(model, "held_bytes")),
                  FormatPercent(NumberAt(model, "complete")),
                  std::string(YesNo(BoolAt(model, "planned")))});
  }
  return table;
}

}  // namespace mei::tools
