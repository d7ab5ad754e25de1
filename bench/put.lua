-- bench/put.lua - wrk script: PUT a raw body of SIZE bytes (default 1 MiB)
-- to the URL's path, over and over (an overwrite of one key, as
-- redis-benchmark's SET overwrites one key).
--   wrk -t1 -c4 -d5s -s bench/put.lua http://127.0.0.1:PORT/api/put/KEY -- [SIZE]
local req

function init(args)
   local size = tonumber(args[1] or "1048576")
   local body = string.rep("x", size)
   req = wrk.format("PUT", nil,
                    { ["Content-Type"] = "application/octet-stream" }, body)
end

function request()
   return req
end
