-- import_state.lua: commit `conversations.imported`: the status, assignee and
-- customer message times an import gives. Uses lib/contact.lua.
--
-- KEYS[1]   the contact hash
-- KEYS[2..] the sets the contact moves in: inboxes, the open-and-assigned set,
--           recency buckets, the window-alert index
-- ARGV[1]   expect {"v": the version the import read}
-- ARGV[2]   set: status, assignee, message times and the sort score
-- ARGV[3]   delete: the assignee, when none
-- ARGV[4]   index moves (lib/contact.lua)
-- Returns {"ok", version} or a refusal (lib/contact.lua).

local refused = still_holds(KEYS[1], expect)
if refused then return refused end
local version = write_record(KEYS[1], set, delete)
move_index(index)
return {"ok", version}
