-- claim_batch.lua: take a batch of outbox entries of one partition for sending.
-- For each entry: a message that is no longer queued (or gone) was handled
-- already (a reclaimed duplicate): its entry is acknowledged and deleted.
-- Otherwise the send lease is taken; an entry whose lease another live
-- consumer holds is skipped and stays pending (a lease held by a consumer
-- named in ARGV[6], a dead one whose entries are being taken over, is taken). For the others the message's
-- and its contact's fields are returned. Every key is in the partition's slot.
--
-- KEYS[1]             the partition's outbox stream
-- KEYS[3i-1 .. 3i+1]  entry i's message hash, send lease, contact hash
-- ARGV[1]  the consumer group
-- ARGV[2]  the consumer (the lease's value)
-- ARGV[3]  lease milliseconds
-- ARGV[4]  JSON: {"queued": status value,
--                 "message": [fields read; the first is the status field],
--                 "contact": [fields read],
--                 "by_channel": [contact field prefixes; the channel value is
--                                appended; the message's second field is the channel]}
-- ARGV[5]  the entries' stream ids, in order, separated by spaces (one
--          argument: the client packs arguments one by one)
-- ARGV[6]  optional: dead consumers whose leases may be taken, space-separated
-- Returns, per entry: {"done"} | {"leased"}
--   | {"ok", [message values], [contact values] or false when the contact is gone}
--   (values in the order asked; a missing field is nil)

local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local lease_ms = ARGV[3]
local spec = cjson.decode(ARGV[4])
local message_fields, contact_fields = spec.message, spec.contact
local out = {}
local i = 0
local dead = {}
for name in string.gmatch(ARGV[6] or '', '%S+') do
  dead[name] = true
end

for entry_id in string.gmatch(ARGV[5], '%S+') do
  i = i + 1
  local message, lease, contact = KEYS[3 * i - 1], KEYS[3 * i], KEYS[3 * i + 1]
  local values = redis.call('HMGET', message, unpack(message_fields))
  if values[1] ~= spec.queued then
    redis.call('XACK', stream, group, entry_id)
    redis.call('XDEL', stream, entry_id)
    out[i] = {'done'}
  elseif not redis.call('SET', lease, consumer, 'NX', 'PX', lease_ms)
      and not (dead[redis.call('GET', lease)]
               and redis.call('SET', lease, consumer, 'PX', lease_ms)) then
    out[i] = {'leased'}
  else
    local about = false
    if redis.call('EXISTS', contact) == 1 then
      local fields = {unpack(contact_fields)}
      for _, prefix in ipairs(spec.by_channel) do
        fields[#fields + 1] = prefix .. (values[2] or '')
      end
      about = redis.call('HMGET', contact, unpack(fields))
    end
    out[i] = {'ok', values, about}
  end
end
return out
