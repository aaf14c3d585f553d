;; The module's own maximum (2 pages) refuses the grow, far below the platform's limit: the
;; guest's choice, so its failure is a runtime error, not memory_limit.
(module
  (memory (export "memory") 1 2)
  (func (export "_start")
    (if (i32.eq (memory.grow (i32.const 4)) (i32.const -1))
      (then unreachable))))
