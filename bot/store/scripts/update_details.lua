-- update_details.lua: a contact's new name, e-mail, phone, identities or
-- handles, and the index entries swapped with them. Uses lib/contact.lua.
--
-- KEYS[1]   the contact hash
-- KEYS[2..] the index buckets (and name recency buckets) it leaves and joins
-- ARGV[1]   expect {"v": the version the change was decided from}
-- ARGV[2]   set: the new details and stored name terms
-- ARGV[3]   delete: details cleared
-- ARGV[4]   index moves (lib/contact.lua)
-- ARGV[5]   unique: JSON [[k, term]], lex buckets KEYS[k] that must hold no
--           other contact's `term` (a phone, e-mail or identity is one contact's)
-- Returns {"ok", version}, {"taken", the member holding it} or a refusal
-- (lib/contact.lua).

local refused = still_holds(KEYS[1], expect)
if refused then return refused end
local taken = first_taken(cjson.decode(ARGV[5]))
if taken then return {"taken", taken} end
local version = write_record(KEYS[1], set, delete)
move_index(index)
return {"ok", version}
