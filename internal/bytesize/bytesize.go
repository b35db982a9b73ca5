// Package bytesize writes byte counts for people: "512 B", "1.5 KiB",
// "3.2 GiB", in the log lines and messages of every package.
package bytesize

import "fmt"

// Human is n bytes with a binary unit and one decimal ("1.0 MiB").
func Human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
