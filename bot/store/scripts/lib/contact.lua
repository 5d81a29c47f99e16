-- lib/contact.lua: the guard and the writes every contact script shares.
-- Not a script by itself: bot/store/scripts.py puts it before the scripts
-- that name it. It knows two fields of the contact hash (named in
-- bot/store/contact_codec.py): `v`, the version, bumped by every write, and
-- `mg`, the contact this one was merged into.
--
-- The arguments the contact scripts share:
-- ARGV[1]  expect: JSON {field: value | false}, fields of KEYS[1] that must
--          still hold what the change was decided from (false: absent)
-- ARGV[2]  set: JSON {field: value}, written to KEYS[1]
-- ARGV[3]  delete: JSON [field], removed from KEYS[1]
-- ARGV[4]  index: JSON [[k, score | false, member]], sorted-set moves on
--          KEYS[k] (false: ZREM, else ZADD with the score)
-- Refusals: {"missing"} | {"merged", survivor id} | {"moved", field}

local function still_holds(contact, expect, merge_step)
  if not merge_step then
    local into = redis.call('HGET', contact, 'mg')
    if into then return {'merged', into} end
  end
  if redis.call('EXISTS', contact) == 0 then return {'missing'} end
  for field, want in pairs(expect) do
    local have = redis.call('HGET', contact, field)
    if want == false then
      if have then return {'moved', field} end
    elseif have ~= tostring(want) then
      return {'moved', field}
    end
  end
  return nil
end

-- Writes the fields; returns the new version ("0": nothing written).
local function write_record(contact, set, delete, wrote)
  local args = {}
  for field, value in pairs(set) do
    args[#args + 1] = field
    args[#args + 1] = tostring(value)
  end
  if #args > 0 then
    redis.call('HSET', contact, unpack(args))
    wrote = true
  end
  if #delete > 0 then
    redis.call('HDEL', contact, unpack(delete))
    wrote = true
  end
  if not wrote then return '0' end
  return tostring(redis.call('HINCRBY', contact, 'v', 1))
end

local function move_index(moves)
  for _, m in ipairs(moves) do
    if m[2] == false then
      redis.call('ZREM', KEYS[m[1]], m[3])
    else
      redis.call('ZADD', KEYS[m[1]], m[2], m[3])
    end
  end
end

-- Unique terms: [[k, term]]; a lex bucket KEYS[k] must hold no `term\0*`.
local function first_taken(uniques)
  for _, pair in ipairs(uniques) do
    local term = pair[2] .. '\0'
    local hit = redis.call('ZRANGEBYLEX', KEYS[pair[1]], '[' .. term, '[' .. term .. '\255',
      'LIMIT', 0, 1)
    if hit[1] then return hit[1] end
  end
  return nil
end

local expect, set, delete, index =
  cjson.decode(ARGV[1]), cjson.decode(ARGV[2]), cjson.decode(ARGV[3]), cjson.decode(ARGV[4])
