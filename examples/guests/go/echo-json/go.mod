module example.com/outlayer/echo-json

go 1.22
