-- delete_contact.lua: remove a contact with its index entries and set
-- memberships, at once. Uses lib/contact.lua.
--
-- KEYS[1]   the contact hash
-- KEYS[2..] the index buckets and sets it leaves
-- ARGV[1]   expect {"v": the version read}
-- ARGV[2]   set: none ({})
-- ARGV[3]   delete: none ([])
-- ARGV[4]   index moves: every ZREM (lib/contact.lua)
-- Returns {"ok", "0"} or a refusal (lib/contact.lua).

local refused = still_holds(KEYS[1], expect)
if refused then return refused end
move_index(index)
redis.call('DEL', KEYS[1])
return {'ok', '0'}
