-- bench/fill.lua - wrk script: PUT N small values under PREFIX0000000 ..
-- PREFIX(N-1) on one connection, then write "done OK BAD" to MARKER and
-- stop (wrk itself still waits for -d or SIGINT: run.sh sends SIGINT when
-- MARKER appears). Run with -t1 -c1: the count lives in this thread's Lua
-- state.
--   wrk -t1 -c1 -d120s -s bench/fill.lua URL -- N PREFIX SIZE MARKER
local n, i, ok, bad, prefix, body, marker = 0, 0, 0, 0, "key-", "", nil
local first = true

function init(args)
   n = tonumber(args[1])
   prefix = args[2] or prefix
   body = string.rep("v", tonumber(args[3] or "16"))
   marker = args[4]
end

function request()
   -- wrk may take one request to look at without sending it: make that
   -- one a harmless GET, so no key is skipped either way.
   if first or i >= n then
      first = false
      return wrk.format("GET", "/health")
   end
   local path = string.format("/api/put/%s%07d", prefix, i)
   i = i + 1
   return wrk.format("PUT", path, nil, body)
end

function response(status, headers, resp)
   if status == 200 and string.find(resp, "success", 1, true) then
      ok = ok + 1
   elseif status ~= 200 then
      bad = bad + 1
   end
   if ok + bad >= n then
      if marker then
         local f = io.open(marker, "w")
         f:write(string.format("done %d %d\n", ok, bad))
         f:close()
         marker = nil
      end
      wrk.thread:stop()
   end
end
