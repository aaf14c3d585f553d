module example.com/outlayer/sdk

go 1.24
