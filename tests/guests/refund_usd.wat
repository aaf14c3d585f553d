;; Gives 3 USD (3,000,000 units of a 6-decimal token) back through the platform's host import,
;; then exits normally.
(module
  (import "outlayer" "refund_usd" (func $refund_usd (param i64)))
  (memory (export "memory") 1)
  (func (export "_start")
    (call $refund_usd (i64.const 3000000))))
