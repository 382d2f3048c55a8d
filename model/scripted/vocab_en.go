package scripted

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// English building blocks. The pools are large and the templates differ in
// shape so that fresh tasks are mostly novel under ROUGE-L, as a real
// model's are at temperature 0.7.
var (
	enTopics = []string{
		"compound interest", "the water cycle", "supply chains", "vaccines", "black holes", "machine translation",
		"photosynthesis in desert plants", "the French Revolution", "remote team management", "urban beekeeping",
		"sourdough fermentation", "electric car batteries", "public libraries", "sleep hygiene", "volcanic eruptions",
		"container shipping", "the history of jazz", "recycling plastics", "solar panels on apartment roofs",
		"impostor syndrome", "credit scores", "ocean tides", "password managers", "the Roman aqueducts",
		"microplastics in rivers", "minimum wage debates", "coral bleaching", "the printing press", "habit formation",
		"open-source licenses", "inflation and savings", "bird migration", "food waste in restaurants",
		"the immune system", "earthquake-resistant buildings", "first-time home buying", "language learning apps",
		"carbon offsets", "the Silk Road", "noise pollution", "time zones", "quantum computing", "plate tectonics",
		"fast fashion", "crop rotation", "the stock market", "online privacy", "marathon training", "tea ceremonies",
	}
	enAudiences = []string{
		"a ten-year-old", "a retired engineer", "first-year university students", "a busy parent", "a small business owner",
		"a non-native English speaker", "a high school history class", "a skeptical investor", "new employees",
		"someone who has never cooked", "a group of nurses", "a teenager saving for a bike", "a city council member",
	}
	enConstraints = []string{
		"", "", " in under 100 words", " using exactly three bullet points", " without using technical jargon",
		" with one concrete example", " in a friendly tone", " as a short dialogue", " and end with a question",
		" in the style of a news report", " using an analogy from sports", " in two short paragraphs",
	}
	enForms = []string{
		"short poem", "product review", "limerick", "motivational speech", "diary entry", "radio advertisement",
		"letter to the editor", "bedtime story", "job advertisement", "thank-you card", "museum plaque text", "travel blog post",
	}
	enActivities = []string{
		"preparing for a job interview", "saving money on groceries", "learning to swim as an adult", "hosting a dinner party",
		"moving to a new city", "starting a podcast", "reducing screen time", "training a rescue dog", "studying for a math exam",
		"planning a wedding on a budget", "keeping houseplants alive", "running a book club", "writing a first novel",
		"negotiating a salary", "organizing a garage", "camping with small children", "giving constructive feedback",
	}
	enItems     = []string{"tweet", "customer email", "movie review", "news headline", "restaurant review", "support ticket", "product description", "text message"}
	enLabelSets = [][]string{
		{"positive", "negative", "neutral"}, {"urgent", "not urgent"}, {"formal", "informal"}, {"spam", "not spam"},
		{"fact", "opinion"}, {"complaint", "praise", "question"}, {"sarcastic", "sincere"}, {"relevant", "irrelevant"},
	}
	enDocs      = []string{"article", "email thread", "meeting transcript", "research abstract", "recipe", "contract clause", "blog post", "lecture notes"}
	enEntities  = []string{"person name", "date", "city", "company", "price", "ingredient", "medication", "phone number"}
	enTones     = []string{"more polite", "more confident", "less formal", "more persuasive", "more concise", "warmer", "more neutral"}
	enGoals     = []string{"cut household energy use", "make a commute more pleasant", "welcome a new coworker", "stay focused while studying", "reduce food waste", "make meetings shorter", "encourage kids to read", "keep in touch with old friends"}
	enPairs     = [][2]string{{"renting", "buying a home"}, {"tea", "coffee"}, {"trains", "planes"}, {"Python", "JavaScript"}, {"e-books", "paper books"}, {"cats", "dogs"}, {"city life", "rural life"}, {"running", "cycling"}}
	enAspects   = []string{"cost", "health effects", "environmental impact", "convenience", "long-term value", "safety"}
	enMessages  = []string{"polite reminder", "short apology", "formal complaint", "friendly invitation", "status update", "request for feedback"}
	enRecipient = []string{"a landlord", "a project manager", "a school principal", "a neighbor", "a hotel manager", "a volunteer group", "a client"}
	enSubjects  = []string{"a noisy renovation", "a missed deadline", "a broken heater", "next month's schedule change", "a billing mistake", "a charity run"}
	enPhenomena = []string{"traffic jams", "rising sea levels", "procrastination", "the decline of bee populations", "housing shortages", "wildfires", "burnout at work"}
	enProcesses = []string{"a bill becomes law", "a vaccine is tested", "a search engine ranks pages", "bread rises", "a credit card payment is processed", "rain forms", "a bicycle gear system works"}
	enProducts  = []string{"a reusable lunch box", "a language exchange app", "a neighborhood tool library", "a quiet electric scooter", "a plant-based yogurt", "a study-planner notebook"}
	enMath      = []string{"percentages", "train speeds", "splitting a bill", "area of a garden", "simple interest", "recipe scaling", "unit conversion", "probability with dice"}
	enPrefixes  = []string{"Please ", "Can you ", "Now ", "Also, ", "Quickly "}
)

// enFresh builds a new English task.
func enFresh(r *rand.Rand) string {
	switch r.IntN(20) {
	case 0:
		return fmt.Sprintf("Explain %s to %s%s.", pick(r, enTopics), pick(r, enAudiences), pick(r, enConstraints))
	case 1:
		return fmt.Sprintf("Compose a %s about %s for %s.", pick(r, enForms), pick(r, enTopics), pick(r, enAudiences))
	case 2:
		return fmt.Sprintf("Give %d practical tips for %s%s.", 3+r.IntN(5), pick(r, enActivities), pick(r, enConstraints))
	case 3:
		ls := pick(r, enLabelSets)
		return fmt.Sprintf("Classify the given %s as %s.", pick(r, enItems), orList(ls))
	case 4:
		return fmt.Sprintf("Summarize the following %s in %d sentences for %s.", pick(r, enDocs), 1+r.IntN(4), pick(r, enAudiences))
	case 5:
		return fmt.Sprintf("Suggest %d creative ways to %s.", 3+r.IntN(4), pick(r, enGoals))
	case 6:
		p := pick(r, enPairs)
		return fmt.Sprintf("Compare %s and %s in terms of %s.", p[0], p[1], pick(r, enAspects))
	case 7:
		return fmt.Sprintf("What are the main causes of %s, and what can individuals do about them?", pick(r, enPhenomena))
	case 8:
		return fmt.Sprintf("Rewrite the paragraph below so that it sounds %s.", pick(r, enTones))
	case 9:
		return fmt.Sprintf("Create a %d-week plan for %s.", 2+r.IntN(6), pick(r, enActivities))
	case 10:
		ls := pick(r, enLabelSets)
		return fmt.Sprintf("Decide whether the %s is %s or %s.", pick(r, enItems), ls[0], ls[1])
	case 11:
		return fmt.Sprintf("Extract every %s mentioned in the %s and list them.", pick(r, enEntities), pick(r, enDocs))
	case 12:
		return fmt.Sprintf("Solve a word problem about %s and show each step of the calculation.", pick(r, enMath))
	case 13:
		return fmt.Sprintf("Describe how %s%s.", pick(r, enProcesses), pick(r, enConstraints))
	case 14:
		return fmt.Sprintf("Is the following statement about %s true or false? Explain briefly.", pick(r, enTopics))
	case 15:
		return fmt.Sprintf("Propose a memorable name for %s and justify your choice.", pick(r, enProducts))
	case 16:
		return fmt.Sprintf("List the pros and cons of %s for %s.", pick(r, enActivities), pick(r, enAudiences))
	case 17:
		return fmt.Sprintf("Draft a %s to %s about %s.", pick(r, enMessages), pick(r, enRecipient), pick(r, enSubjects))
	case 18:
		return fmt.Sprintf("Which of these is the best first step for %s, and why?", pick(r, enActivities))
	default:
		return fmt.Sprintf("Turn the notes on %s into a clear checklist for %s.", pick(r, enTopics), pick(r, enAudiences))
	}
}

func orList(ls []string) string {
	if len(ls) == 2 {
		return ls[0] + " or " + ls[1]
	}
	return strings.Join(ls[:len(ls)-1], ", ") + ", or " + ls[len(ls)-1]
}

// enFaulty builds a task that one of the paper's static filters rejects.
func enFaulty(r *rand.Rand) string {
	switch r.IntN(6) {
	case 0:
		return fmt.Sprintf("Draw a picture of %s.", pick(r, enTopics))
	case 1:
		return fmt.Sprintf("Plot a graph showing how %s changed over time.", pick(r, enTopics))
	case 2:
		return pick(r, []string{"Summarize this.", "Tell a joke.", "Translate it.", "Be creative."})
	case 3:
		return fmt.Sprintf("Write a program that explains %s.", pick(r, enTopics))
	case 4:
		return fmt.Sprintf("\"%s\" - rewrite this title to be catchier.", strings.ToUpper(pick(r, enTopics)[:1])+pick(r, enTopics)[1:])
	default:
		return fmt.Sprintf("Open the file with the notes about %s and fix the typos.", pick(r, enTopics))
	}
}

// enNearCopy makes a near-duplicate of s, the commonest failure of the loop.
func enNearCopy(r *rand.Rand, s string) string {
	s = strings.TrimRight(s, ".?! ")
	switch r.IntN(3) {
	case 0:
		p := pick(r, enPrefixes)
		return p + strings.ToLower(s[:1]) + s[1:] + "."
	case 1:
		return s + " in detail."
	default:
		return s + ", please."
	}
}
