;; Tries to reach the host file system through every file descriptor 0..127: fd_prestat_get,
;; path_open of "etc/passwd", "/etc/passwd" and ".", and fd_read. Exits with the number of
;; attempts that succeeded (0 = contained) and prints it as a digit count on stdout.
(module
  (import "wasi_snapshot_preview1" "fd_prestat_get"
    (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "etc/passwd")
  (data (i32.const 120) "/etc/passwd")
  (data (i32.const 140) ".")
  (func $open (param $fd i32) (param $path i32) (param $len i32) (result i32)
    (i32.eqz (call $path_open (local.get $fd) (i32.const 1) (local.get $path) (local.get $len)
      (i32.const 0) (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 200))))
  (func (export "_start")
    (local $fd i32) (local $hits i32)
    ;; iovec at 300: buf = 400, len = 64
    (i32.store (i32.const 300) (i32.const 400))
    (i32.store (i32.const 304) (i32.const 64))
    (loop $each
      (if (i32.eqz (call $fd_prestat_get (local.get $fd) (i32.const 240)))
        (then (local.set $hits (i32.add (local.get $hits) (i32.const 1)))))
      (local.set $hits (i32.add (local.get $hits) (call $open (local.get $fd) (i32.const 100) (i32.const 10))))
      (local.set $hits (i32.add (local.get $hits) (call $open (local.get $fd) (i32.const 120) (i32.const 11))))
      (local.set $hits (i32.add (local.get $hits) (call $open (local.get $fd) (i32.const 140) (i32.const 1))))
      ;; fd 0 is stdin (the job's input, allowed); any other readable fd is a leak
      (if (i32.and (i32.gt_u (local.get $fd) (i32.const 2))
                   (i32.eqz (call $fd_read (local.get $fd) (i32.const 300) (i32.const 1) (i32.const 260))))
        (then (local.set $hits (i32.add (local.get $hits) (i32.const 1)))))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $fd) (i32.const 128))))
    (call $proc_exit (local.get $hits))))
