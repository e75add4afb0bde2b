package dependents

import (
	"fmt"
	"strings"

	"golang.org/x/mod/module"
)

// Branch is the branch every dependency pull request is made from; a new
// run force-updates it, so a repository has at most one such pull request.
const Branch = "mainline/dependencies"

// bodyMarker starts every body Mainline writes, so people (and Mainline)
// can tell its pull requests apart.
const bodyMarker = "<!-- mainline:dependencies -->"

// Title is the pull request title for n upgrades.
func Title(n int) string {
	if n == 1 {
		return "Upgrade 1 dependency"
	}
	return fmt.Sprintf("Upgrade %d dependencies", n)
}

// Body renders the pull request description: a table of the upgrades in
// it (module, from, to, kind, with links to the module's documentation or
// compare view where known), and a table of those left out with why, the
// failing output folded under each.
func Body(ups []Upgrade, left []LeftOut) string {
	var b strings.Builder
	b.WriteString(bodyMarker + "\n")
	fmt.Fprintf(&b, "Mainline found newer versions of %s and checked them (build command, `go build ./...`, `go test ./...`) before opening this pull request.\n\n", plural(len(ups), "dependency", "dependencies"))
	b.WriteString("| module | from | to | kind |\n| --- | --- | --- | --- |\n")
	for _, u := range ups {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", nameCell(u), cell(fromText(u)), toCell(u), u.Kind)
	}
	if len(left) > 0 {
		b.WriteString("\n### Left out\n\n| module | from | to | why |\n| --- | --- | --- | --- |\n")
		for _, l := range left {
			to := l.To
			if to == "" {
				to = "–"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", cell(l.Name), cell(l.From), cell(to), cell(l.Reason))
		}
		for _, l := range left {
			if l.Log == "" {
				continue
			}
			fmt.Fprintf(&b, "\n<details><summary>%s %s: output</summary>\n\n```\n%s\n```\n</details>\n", l.Name, l.To, strings.ReplaceAll(l.Log, "```", "'''"))
		}
	}
	b.WriteString("\n_Opened by Mainline's dependents day; a newer run updates this pull request._\n")
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func fromText(u Upgrade) string {
	if u.FromDigest != "" {
		return u.From + "@" + shortDigest(u.FromDigest)
	}
	return u.From
}

func nameCell(u Upgrade) string {
	name := cell(u.Name)
	if u.Ecosystem == DockerImage {
		name += " (" + cell(u.File) + ")"
	}
	return name
}

// toCell is the new version, linked to a compare view or documentation.
func toCell(u Upgrade) string {
	text := u.To
	if u.ToDigest != "" {
		text += "@" + shortDigest(u.ToDigest)
	}
	if u.NewName != "" && u.NewName != u.Name {
		text = u.NewName + " " + text
	}
	if link := Link(u); link != "" {
		return fmt.Sprintf("[%s](%s)", cell(text), link)
	}
	return cell(text)
}

// Link returns where to read about an upgrade: GitHub's compare view for
// modules hosted on GitHub with tagged versions, pkg.go.dev for other Go
// modules, Docker Hub for official images.
func Link(u Upgrade) string {
	switch u.Ecosystem {
	case GoModule:
		newPath := u.NewName
		if newPath == "" {
			newPath = u.Name
		}
		if strings.HasPrefix(u.Name, "github.com/") && newPath == u.Name && !module.IsPseudoVersion(u.From) && !module.IsPseudoVersion(u.To) {
			parts := strings.Split(u.Name, "/")
			if len(parts) == 3 || (len(parts) == 4 && isMajorElem(parts[3])) {
				return fmt.Sprintf("https://github.com/%s/%s/compare/%s...%s", parts[1], parts[2], u.From, u.To)
			}
		}
		return fmt.Sprintf("https://pkg.go.dev/%s@%s", newPath, u.To)
	case DockerImage:
		if !strings.Contains(u.Name, "/") {
			return "https://hub.docker.com/_/" + u.Name + "/tags"
		}
	}
	return ""
}
