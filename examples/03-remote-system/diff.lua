--- A Diff class returning every group of children in alphabetical order
-- (DiffSync's diff.py, AlphabeticalOrderDiff).
local ms = require "moonsync"

return ms.diff_class {
  order_children_default = function(children)
    -- an element's action ("create", "update", "delete") could be
    -- looked at too
    table.sort(children, function(a, b) return a.name < b.name end)
    return children
  end,
}
