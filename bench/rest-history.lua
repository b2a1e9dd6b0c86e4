-- wrk script: GET a page of history (the URL carries room and query).
--
--   CHAT_TOKEN=$(build/chat-token --alg HS256 --key run/jwt.secret \
--       --sub bench-rest --ttl 3600) \
--   taskset -c 1 wrk -t1 -c32 -d10s --latency -s bench/rest-history.lua \
--       'http://127.0.0.1:8080/chat/api/rooms/ROOM/messages?limit=50'
--
-- Every answer must be 200 with a full page ("has_more":true, as the room
-- holds many more messages than a page).  See bench/rest-lib.lua.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"

dofile(dir .. "rest-lib.lua").configure({
    method = "GET",
    status = 200,
    check_body = function(body)
        return body ~= nil
               and body:find('"has_more":true}', -24, true) ~= nil
    end,
})
