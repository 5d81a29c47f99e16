-- create_contact.lua: a new contact in its home partition, indexed at once,
-- unless its phone, e-mail or an identity is already another contact's there
-- (two creators of one customer: the first wins, the other joins it).
-- Uses lib/contact.lua.
--
-- KEYS[1]   the new contact hash
-- KEYS[2..] the index buckets, recency buckets and sets it joins
-- ARGV[1]   expect: none ({})
-- ARGV[2]   set: every field of the new record
-- ARGV[3]   delete: none ([])
-- ARGV[4]   index moves: every ZADD (lib/contact.lua)
-- ARGV[5]   unique: JSON [[k, term]] (see update_details.lua)
-- Returns {"ok", version}, {"exists"} or {"taken", the member holding it}.

if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
local taken = first_taken(cjson.decode(ARGV[5]))
if taken then return {'taken', taken} end
local version = write_record(KEYS[1], set, delete)
move_index(index)
return {'ok', version}
