-- record_inbound.lua: commit `conversations.inbound`: a customer message
-- restarts its channel's window and reopens a closed conversation; a repeated
-- delivery of the same message (the channel's message id) is taken once.
-- Uses lib/contact.lua.
--
-- KEYS[1]   the contact hash
-- KEYS[2]   the message's seen marker, when ARGV[5] is not ""
-- KEYS[2..] (KEYS[3..] with a marker) the sets the contact moves in: its assignee's inbox, the
--           open-and-assigned set, recency buckets, the window-alert index
-- ARGV[1]   expect {"v": the version the transition was decided from}
-- ARGV[2]   set: the channel's message time, sort score, and for a new
--           period status and opened at; the customer's last e-mail
-- ARGV[3]   delete: a new period's thread, closing reason and time
-- ARGV[4]   index moves (lib/contact.lua)
-- ARGV[5]   seconds the seen marker lasts ("": no marker)
-- Returns {"ok", version}, {"duplicate"} or a refusal (lib/contact.lua).

local refused = still_holds(KEYS[1], expect)
if refused then return refused end
if ARGV[5] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then return {'duplicate'} end
local version = write_record(KEYS[1], set, delete)
move_index(index)
if ARGV[5] ~= '' then redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[5])) end
return {'ok', version}
