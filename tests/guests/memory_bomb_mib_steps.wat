;; Grows memory 16 pages (1 MiB) at a time until memory.grow is denied, then fails. Under a
;; 16 MiB limit that started at 1 page, the refusal comes 15 pages short of the limit.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $grow
      (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    unreachable))
