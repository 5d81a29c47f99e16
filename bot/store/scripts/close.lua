-- close.lua: commit `conversations.close`: closed, when and why, with or
-- without its assignee (CLOSE_UNASSIGNS). Uses lib/contact.lua.
--
-- KEYS[1]   the contact hash
-- KEYS[2..] the sets the contact moves in: its assignee's inbox, the
--           partition's open-and-assigned set, its name terms' recency buckets
-- ARGV[1]   expect {"v": the version the transition was decided from}
-- ARGV[2]   set: status, closed at, reason
-- ARGV[3]   delete: the assignee, when closing unassigns
-- ARGV[4]   index moves (lib/contact.lua)
-- Returns {"ok", version} or a refusal (lib/contact.lua).

local refused = still_holds(KEYS[1], expect)
if refused then return refused end
local version = write_record(KEYS[1], set, delete)
move_index(index)
return {"ok", version}
