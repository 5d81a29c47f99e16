-- reopen.lua: commit `conversations.reopen` (or `take_over`): the conversation
-- open (a new period when it was closed) and assigned to the agent who asked.
-- Uses lib/contact.lua.
--
-- KEYS[1]   the contact hash
-- KEYS[2..] the sets the contact moves in: its assignees' inboxes, the
--           partition's open-and-assigned set, its name terms' recency buckets
-- ARGV[1]   expect {"v": the version the transition was decided from}
-- ARGV[2]   set: status, assignee, opened at, previous thread
-- ARGV[3]   delete: the thread, closing reason and time of the period that ended
-- ARGV[4]   index moves (lib/contact.lua)
-- Returns {"ok", version} or a refusal (lib/contact.lua).

local refused = still_holds(KEYS[1], expect)
if refused then return refused end
local version = write_record(KEYS[1], set, delete)
move_index(index)
return {"ok", version}
