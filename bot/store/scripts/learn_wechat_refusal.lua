-- learn_wechat_refusal.lua: remember what WeChat refused in a window
-- ("spent": 45047, "closed": 45015) until the customer writes again.
-- Uses lib/contact.lua.
--
-- KEYS[1]   the contact hash
-- ARGV[1]   expect {"v": the version read}
-- ARGV[2]   set: `wl` = "<kind>:<window start>"
-- ARGV[3]   delete: none ([])
-- ARGV[4]   index moves: none ([])
-- Returns {"ok", version} or a refusal (lib/contact.lua).

local refused = still_holds(KEYS[1], expect)
if refused then return refused end
local version = write_record(KEYS[1], set, delete)
move_index(index)
return {"ok", version}
