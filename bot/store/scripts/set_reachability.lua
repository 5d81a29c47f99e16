-- set_reachability.lua: record that a channel identity is unreachable (and
-- why), or reachable again, and the time of the newest such event.
-- Uses lib/contact.lua.
--
-- KEYS[1]   the contact hash
-- ARGV[1]   expect {"v": the version the event was judged against}
-- ARGV[2]   set: `u:<channel>` (reason, since, detail), `ur:<channel>` (event time)
-- ARGV[3]   delete: `u:<channel>` when reachable again
-- ARGV[4]   index moves: none ([])
-- Returns {"ok", version} or a refusal (lib/contact.lua).

local refused = still_holds(KEYS[1], expect)
if refused then return refused end
local version = write_record(KEYS[1], set, delete)
move_index(index)
return {"ok", version}
