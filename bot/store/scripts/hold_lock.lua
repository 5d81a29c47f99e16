-- hold_lock.lua: take a lease for its holder, or renew it if the holder has it,
-- in one step (a GET then a PEXPIRE could renew a lease that lapsed between the
-- two and was taken by another replica, and both would then act as the holder).
--
-- KEYS[1]  the lock
-- ARGV[1]  the holder's name (its process)
-- ARGV[2]  the lease, in milliseconds
-- Returns 1 when the holder has the lease now, 0 when another does.

if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
