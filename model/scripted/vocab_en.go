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
		"wind turbines", "the placebo effect", "medieval castles", "rainforest canopies", "public transport fares",
		"antibiotic resistance", "the Olympic Games", "sign languages", "desert irrigation", "cloud storage",
		"jury duty", "fermented vegetables", "glacier retreat", "street food culture", "the metric system",
		"online reviews", "wildlife corridors", "daylight saving time", "credit card fraud", "folk music traditions",
		"3D printing", "the history of chess", "food labels", "air quality indexes", "urban gardening",
		"children's sleep", "remote learning", "the gig economy", "solar eclipses", "coffee farming",
		"noise-cancelling headphones", "the Great Barrier Reef", "e-sports", "water desalination", "hand washing",
		"library fines", "lunar phases", "heat waves", "electric bicycles", "ancient Egyptian writing",
	}
	enAudiences = []string{
		"a ten-year-old", "a retired engineer", "first-year university students", "a busy parent", "a small business owner",
		"a non-native English speaker", "a high school history class", "a skeptical investor", "new employees",
		"someone who has never cooked", "a group of nurses", "a teenager saving for a bike", "a city council member",
		"a farmer in a dry region", "an exchange student", "a night-shift worker", "a high school coach", "a new landlord",
		"a museum volunteer", "a first-time voter", "a freelance designer", "a grandparent learning to text",
		"a hospital administrator", "a bakery owner", "a software intern",
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
		"learning to play chess", "cooking for a large family", "preparing a first marathon", "starting a compost bin",
		"teaching a teenager to drive", "running an online shop", "choosing a used car", "volunteering abroad",
		"planning a surprise party", "caring for an elderly parent", "learning a second language", "decluttering a kitchen",
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

// enFresh builds a new English task: a frame with two or three slots, then
// an optional persona, purpose and constraint drawn from separate pools, so
// that two tasks rarely share enough words to look like near-duplicates.
func enFresh(r *rand.Rand, clf bool) string {
	frame := r.IntN(20)
	if clf {
		frame = pick(r, enClfFrames)
	}
	core, question := enFrame(r, frame)
	if !question {
		if r.Float64() < 0.6 {
			core += " " + pick(r, enPurposes)
		}
		if r.Float64() < 0.5 {
			core += pick(r, enConstraints[2:])
		}
		core += "."
	}
	if r.Float64() < 0.3 {
		core = pick(r, enPersonas) + ", " + strings.ToLower(core[:1]) + core[1:]
	}
	return core
}

var (
	enPersonas = []string{
		"As a museum guide", "Acting as a careers adviser", "As a science journalist", "Imagining you are a nutritionist",
		"As a veteran teacher", "Speaking as a city planner", "As a travel agent", "Pretending to be a librarian",
		"As a customer support lead", "In the role of a personal trainer", "As a family doctor", "As a startup founder",
		"As a park ranger", "Writing as a food critic", "As a school counselor", "As a tax adviser",
		"Acting as a tour planner", "As a sports commentator", "As a data analyst", "As a radio host",
	}
	enPurposes = []string{
		"for a school newsletter", "for a community workshop", "as part of a job application", "for a podcast episode",
		"for an internal company wiki", "for a volunteer training day", "for a local radio segment", "for a parents' evening",
		"for a beginners' evening class", "for a conference lightning talk", "for a neighborhood notice board", "for a museum audio tour",
		"for an online course forum", "for a retirement home newsletter", "for a hackathon kickoff", "for a hospital waiting room leaflet",
		"for a team offsite", "for a charity fundraiser flyer", "for a science fair booth", "for a library display",
		"for a new-hire handbook", "for a weekend market stall", "for a tenants' association meeting", "for a student council",
		"for a bilingual classroom", "for a farmers' cooperative", "for a travel agency brochure", "for a city tourism website",
	}
	enVerbsExplain = []string{"Explain", "Describe", "Clarify", "Walk through", "Outline", "Break down"}
	enVerbsWrite   = []string{"Compose", "Write", "Draft", "Create", "Produce", "Pen"}
	enVerbsSuggest = []string{"Suggest", "Propose", "Recommend", "Brainstorm", "Come up with", "List"}
)

// enTopicModifiers narrow a topic, as a model varies its wording.
var enTopicModifiers = []string{"the economics of", "the history of", "myths about", "recent progress in", "the ethics of", "everyday examples of", "common mistakes with", "the science behind", "local debates about", "the future of"}

func enTopic(r *rand.Rand) string {
	if r.Float64() < 0.4 {
		return pick(r, enTopicModifiers) + " " + pick(r, enTopics)
	}
	return pick(r, enTopics)
}

// enClfFrames are the frames of classification tasks.
var enClfFrames = []int{3, 10, 14}

func enFrame(r *rand.Rand, frame int) (string, bool) {
	switch frame {
	case 0:
		return fmt.Sprintf("%s %s to %s", pick(r, enVerbsExplain), enTopic(r), pick(r, enAudiences)), false
	case 1:
		return fmt.Sprintf("%s a %s about %s", pick(r, enVerbsWrite), pick(r, enForms), enTopic(r)), false
	case 2:
		return fmt.Sprintf("Give %d practical tips for %s", 3+r.IntN(5), pick(r, enActivities)), false
	case 3:
		return fmt.Sprintf("Classify the given %s as %s", pick(r, enItems), orList(pick(r, enLabelSets))), false
	case 4:
		return fmt.Sprintf("Summarize the following %s in %d sentences for %s", pick(r, enDocs), 1+r.IntN(4), pick(r, enAudiences)), false
	case 5:
		return fmt.Sprintf("%s %d creative ways to %s", pick(r, enVerbsSuggest), 3+r.IntN(4), pick(r, enGoals)), false
	case 6:
		p := pick(r, enPairs)
		return fmt.Sprintf("Compare %s and %s in terms of %s", p[0], p[1], pick(r, enAspects)), false
	case 7:
		return fmt.Sprintf("What are the main causes of %s, and how do they affect %s?", pick(r, enPhenomena), pick(r, enAudiences)), true
	case 8:
		return fmt.Sprintf("Rewrite the %s below so that it sounds %s", pick(r, enDocs), pick(r, enTones)), false
	case 9:
		return fmt.Sprintf("Create a %d-week plan for %s", 2+r.IntN(6), pick(r, enActivities)), false
	case 10:
		ls := pick(r, enLabelSets)
		return fmt.Sprintf("Decide whether the %s is %s or %s", pick(r, enItems), ls[0], ls[1]), false
	case 11:
		return fmt.Sprintf("Extract every %s mentioned in the %s", pick(r, enEntities), pick(r, enDocs)), false
	case 12:
		return fmt.Sprintf("Solve a word problem about %s and show each step", pick(r, enMath)), false
	case 13:
		return fmt.Sprintf("%s how %s", pick(r, enVerbsExplain), pick(r, enProcesses)), false
	case 14:
		return fmt.Sprintf("Is the following claim about %s true or false for %s?", enTopic(r), pick(r, enAudiences)), true
	case 15:
		return fmt.Sprintf("%s a memorable name for %s and justify it", pick(r, enVerbsSuggest), pick(r, enProducts)), false
	case 16:
		return fmt.Sprintf("List the pros and cons of %s for %s", pick(r, enActivities), pick(r, enAudiences)), false
	case 17:
		return fmt.Sprintf("%s a %s to %s about %s", pick(r, enVerbsWrite), pick(r, enMessages), pick(r, enRecipient), pick(r, enSubjects)), false
	case 18:
		return fmt.Sprintf("Which habit matters most when %s, and why would it help %s?", pick(r, enActivities), pick(r, enAudiences)), true
	default:
		return fmt.Sprintf("Turn the notes on %s into a checklist for %s", enTopic(r), pick(r, enAudiences)), false
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
		return fmt.Sprintf("Draw a picture of %s.", enTopic(r))
	case 1:
		return fmt.Sprintf("Plot a graph showing how %s changed over time.", enTopic(r))
	case 2:
		return pick(r, []string{"Summarize this.", "Tell a joke.", "Translate it.", "Be creative."})
	case 3:
		return fmt.Sprintf("Write a program that explains %s.", enTopic(r))
	case 4:
		t := enTopic(r)
		return fmt.Sprintf("\"%s\" - rewrite this title to be catchier.", strings.ToUpper(t[:1])+t[1:])
	default:
		return fmt.Sprintf("Open the file with the notes about %s and fix the typos.", enTopic(r))
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
