-- wrk script: durable sends, POST {"body":"..."} to a room (201 once
-- committed to PostgreSQL).
--
--   CHAT_TOKEN=$(build/chat-token --alg HS256 --key run/jwt.secret \
--       --sub bench-rest --ttl 3600) BODY_SIZE=64 \
--   taskset -c 1 wrk -t1 -c32 -d10s --latency -s bench/rest-send.lua \
--       'http://127.0.0.1:8080/chat/api/rooms/ROOM/messages'
--
-- BODY_SIZE (64) is the length of the message text.  Every answer must be
-- 201.  See bench/rest-lib.lua.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local size = tonumber(os.getenv("BODY_SIZE") or "") or 64

dofile(dir .. "rest-lib.lua").configure({
    method = "POST",
    status = 201,
    body = '{"body":"' .. string.rep("x", size) .. '"}',
})
