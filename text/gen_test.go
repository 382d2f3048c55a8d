package text

import (
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// instructionGen writes Self-Instruct-like instructions, deterministically
// from a seed: fresh ones from templates and slot words, and a large share
// of near-duplicates (a word swapped, dropped or added, a number changed,
// case and punctuation changed) and paraphrases (the same slots in another
// template) of earlier ones, which is what a teacher model produces and
// what the novelty filter has to catch.
type instructionGen struct {
	rng  *rand.Rand
	past []genItem
}

type genItem struct {
	tmpl  int
	slots map[string]string
	text  string
}

func newInstructionGen(seed uint64) *instructionGen {
	return &instructionGen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

var genTemplates = [][]string{
	// Paraphrase groups: templates in one group say the same thing.
	{
		"Write a {adj} poem about {topic}.",
		"Compose a {adj} poem on the subject of {topic}.",
		"Create a short {adj} poem that describes {topic}.",
	},
	{
		"Explain {topic} to {audience}.",
		"Describe {topic} in simple terms for {audience}.",
		"How would you explain {topic} to {audience}?",
	},
	{
		"Give me {num} tips for {activity}.",
		"List {num} pieces of advice about {activity}.",
		"What are {num} good ways to improve at {activity}?",
	},
	{
		"Summarize the following article about {topic} in {num} sentences.",
		"Write a {num}-sentence summary of this text on {topic}.",
		"Condense the passage below, which is about {topic}, into {num} sentences.",
	},
	{
		"Classify the sentiment of the following {thing} as positive, negative or neutral.",
		"Is the sentiment of this {thing} positive, negative, or neutral?",
		"Decide whether the given {thing} expresses a positive, negative or neutral opinion.",
	},
	{
		"Translate the following sentence into {language}.",
		"Convert this English sentence to {language}.",
		"What is the {language} translation of the sentence below?",
	},
	{
		"Write a {adj} email to {audience} about {topic}.",
		"Draft an email for {audience} that discusses {topic} in a {adj} tone.",
	},
	{
		"Generate a list of {num} questions about {topic}.",
		"Come up with {num} interview questions on {topic}.",
		"Suggest {num} questions someone might ask about {topic}.",
	},
	{
		"Compare {topic} and {topic2}.",
		"What are the main differences between {topic} and {topic2}?",
		"Contrast {topic} with {topic2} in a short paragraph.",
	},
	{
		"Find the {stat} of the following numbers.",
		"Calculate the {stat} of the numbers given in the input.",
		"Given a list of numbers, compute their {stat}.",
	},
	{
		"Rewrite the following paragraph to make it more {adj}.",
		"Edit this text so that it sounds {adj}.",
		"Make the given passage more {adj} without changing its meaning.",
	},
	{
		"Suggest a name for a {adj} {business}.",
		"Come up with {num} catchy names for a new {business}.",
		"Brainstorm names for a {business} that feels {adj}.",
	},
	{
		"Plan a {num}-day trip to {place} for {audience}.",
		"Create an itinerary for {num} days in {place}.",
		"What should {audience} do during {num} days in {place}?",
	},
	{
		"Tell me a joke about {topic}.",
		"Make up a funny joke involving {topic}.",
	},
	{
		"Write a function that {codetask} in {proglang}.",
		"Implement a {proglang} function to {codetask2}.",
		"How do I {codetask2} in {proglang}?",
	},
	{
		"What is the capital of {country}?",
		"Name the capital city of {country}.",
	},
	{
		"Identify the odd one out: {w1}, {w2}, {w3}, {w4}.",
		"Which word does not belong with the others: {w1}, {w2}, {w3}, {w4}?",
	},
	{
		"Give an example of {concept} in everyday life.",
		"Provide a real-world example that illustrates {concept}.",
		"Describe a situation that shows {concept}.",
	},
	{
		"Write a recipe for {dish} that serves {num} people.",
		"How do you cook {dish} for {num} guests?",
		"List the ingredients and steps to make {dish}.",
	},
	{
		"Is the following statement true or false? {fact}",
		"Determine whether this claim is correct: {fact}",
	},
	{
		"Create a workout plan for {audience} who want to {goal}.",
		"Design a weekly exercise routine to help {audience} {goal}.",
	},
	{
		"Write a product description for a {adj} {product}.",
		"Describe a {product} in a {adj} way for an online store.",
	},
	{
		"Outline the main arguments for and against {issue}.",
		"What are the pros and cons of {issue}?",
		"Write a balanced essay on {issue}.",
	},
	{
		"Sort the following {things} by {sortkey}.",
		"Arrange these {things} in order of {sortkey}.",
	},
}

var genSlots = map[string][]string{
	"adj": {"funny", "formal", "friendly", "persuasive", "concise", "romantic", "sad", "hopeful", "professional",
		"casual", "dramatic", "polite", "humorous", "inspiring", "simple", "detailed", "playful", "serious", "warm", "clear"},
	"topic": {"the ocean", "climate change", "machine learning", "the French Revolution", "black holes", "photosynthesis",
		"inflation", "the stock market", "quantum computing", "renewable energy", "social media", "friendship",
		"the human heart", "volcanoes", "the Roman Empire", "vaccines", "electric cars", "coffee", "sleep", "jazz music",
		"the moon landing", "blockchain", "honey bees", "the water cycle", "democracy", "artificial intelligence",
		"gardening", "the immune system", "supply chains", "the internet", "autumn leaves", "city life", "a rainy day",
		"chess", "the Olympic Games", "plate tectonics", "recycling", "public libraries", "video game design", "DNA",
		"the printing press", "remote work", "mountain climbing", "the Great Wall of China", "tea ceremonies",
		"solar panels", "credit scores", "first aid", "ancient Egypt", "coral reefs", "3D printing", "time management",
		"urban farming", "the speed of light", "minimalism", "meditation", "wildfires", "space tourism", "bread baking",
		"opera", "the Silk Road", "cryptography", "tsunamis", "migration of birds", "nuclear fusion", "pandemics"},
	"audience": {"a five-year-old", "high school students", "a new employee", "my grandmother", "software engineers",
		"a beginner", "busy parents", "college students", "a customer", "retirees", "a team of nurses", "tourists"},
	"num":      {"3", "4", "5", "7", "10", "two", "three", "five"},
	"activity": {"public speaking", "learning a language", "saving money", "running a marathon", "writing essays", "cooking at home", "studying for exams", "taking photos", "negotiating a salary", "staying focused", "making friends", "playing guitar"},
	"thing":    {"tweet", "movie review", "product review", "customer comment", "news headline", "restaurant review", "sentence"},
	"language": {"French", "Spanish", "German", "Japanese", "Italian", "Portuguese", "Korean", "Chinese", "Russian", "Arabic"},
	"stat":     {"average", "median", "mode", "sum", "maximum", "minimum", "standard deviation", "range"},
	"business": {"coffee shop", "bakery", "startup", "bookstore", "yoga studio", "food truck", "podcast", "pet store", "law firm", "toy company"},
	"place":    {"Paris", "Tokyo", "New York", "Kyoto", "Rome", "Barcelona", "Cairo", "Sydney", "Iceland", "Peru", "Vietnam", "Morocco"},
	"proglang": {"Python", "Go", "JavaScript", "Java", "Rust", "C++", "Ruby", "SQL"},
	"codetask": {"reverses a string", "checks whether a number is prime", "sorts a list of integers",
		"counts the vowels in a word", "removes duplicates from an array", "finds the largest element of a list",
		"merges two sorted lists", "converts Celsius to Fahrenheit", "validates an email address", "computes a factorial"},
	"codetask2": {"reverse a string", "check if a number is prime", "sort a list", "count vowels in a word",
		"remove duplicates from an array", "read a CSV file", "parse JSON", "compute a factorial", "find the median"},
	"country": {"France", "Japan", "Brazil", "Kenya", "Canada", "Australia", "Egypt", "Norway", "Chile", "Thailand", "Mexico", "Poland"},
	"concept": {"supply and demand", "opportunity cost", "Newton's third law", "natural selection", "compound interest",
		"confirmation bias", "the greenhouse effect", "entropy", "peer pressure", "inertia", "osmosis", "game theory"},
	"dish": {"vegetable soup", "pancakes", "chicken curry", "a chocolate cake", "fried rice", "lasagna", "a fruit salad", "miso soup", "tacos", "banana bread"},
	"fact": {"The sun is a star.", "Bats are blind.", "Water boils at 100 degrees Celsius at sea level.",
		"The Great Wall is visible from space.", "Humans have five senses.", "Tomatoes are fruits.", "Lightning never strikes twice."},
	"goal":    {"lose weight", "build muscle", "improve flexibility", "run faster", "reduce stress", "sleep better"},
	"product": {"water bottle", "backpack", "smartwatch", "desk lamp", "yoga mat", "coffee grinder", "pair of headphones", "notebook"},
	"issue": {"school uniforms", "a four-day work week", "nuclear power", "banning plastic bags", "universal basic income",
		"homework", "social media age limits", "space exploration funding", "self-driving cars"},
	"things":  {"animals", "planets", "countries", "fruits", "historical events", "programming languages", "cities"},
	"sortkey": {"size", "population", "date", "popularity", "weight", "distance from the sun", "alphabetical order"},
	"w":       {"apple", "banana", "carrot", "cherry", "dog", "cat", "car", "bus", "train", "red", "blue", "green", "piano", "violin", "table", "chair"},
}

var genSynonyms = map[string][]string{
	"write": {"compose", "create", "draft"}, "give": {"provide", "offer"}, "list": {"enumerate", "name"},
	"short": {"brief", "little"}, "explain": {"describe", "clarify"}, "following": {"given", "below"},
	"tips": {"suggestions", "ideas"}, "funny": {"amusing", "hilarious"}, "make": {"create", "produce"},
	"main": {"key", "major"}, "questions": {"queries"}, "simple": {"easy", "plain"},
}

// genClauses extend fresh instructions, as generated tasks often carry a
// constraint or a second request.
var genClauses = []string{
	"Keep it under {num} sentences.", "Use a {adj} tone.", "Include an example about {topic2}.",
	"Make sure {audience} can follow it.", "Mention {concept} at least once.", "Format the answer as a table.",
	"Avoid technical jargon.", "Start with a one-line summary.", "End with a question for {audience}.",
	"Use bullet points.", "Cite {num} sources if possible.", "Relate it to {activity}.",
	"Add a title.", "Write it from the point of view of {audience}.", "Compare it briefly with {topic2}.",
	"The answer should be {adj} and {adj2}.", "Explain your reasoning step by step.", "Do not use the letter e.",
	"Set the scene in {place}.", "Assume the reader lives in {country}.", "Refer to {dish} somewhere.",
}

// Free-form instructions are built from a verb, an object, a topic and a
// qualifier, which gives the long tail of phrasings a model produces.
var (
	genVerbs = []string{"Write", "Explain", "Describe", "List", "Summarize", "Compare", "Evaluate", "Design", "Propose",
		"Outline", "Analyze", "Critique", "Suggest", "Identify", "Predict", "Estimate", "Classify", "Rank", "Draft",
		"Plan", "Illustrate", "Define", "Argue", "Justify", "Recommend", "Brainstorm", "Translate", "Paraphrase",
		"Simplify", "Expand", "Debug", "Optimize", "Rewrite", "Interpret", "Investigate", "Discuss", "Review", "Sketch"}
	genObjects = []string{"a short story", "a haiku", "three arguments", "a step-by-step guide", "a checklist",
		"a one-paragraph overview", "the key risks", "a lesson plan", "a marketing slogan", "an opening line",
		"five common mistakes", "a timeline", "a quiz with answers", "a dialogue between two friends", "a limerick",
		"an analogy", "a cover letter", "a speech", "a press release", "a product pitch", "a set of interview tips",
		"a budget", "a weekly schedule", "the historical background", "a counterargument", "a decision matrix",
		"a mnemonic", "a troubleshooting flowchart in words", "a glossary", "a customer survey", "a thank-you note",
		"an abstract", "a tweet thread", "a riddle", "a menu", "a job description", "a research question", "a hypothesis"}
	genQualifiers = []string{"for a general audience", "in under 100 words", "using only simple words",
		"with a surprising twist", "as a pirate would", "for a science fair", "in the style of a news report",
		"for a job interview", "without using numbers", "for a children's book", "with historical examples",
		"from an economist's perspective", "for a rainy afternoon", "that a teenager would enjoy",
		"in exactly three sentences", "for a team meeting", "with a moral at the end", "for social media",
		"aimed at small business owners", "that fits on a postcard", "for non-native speakers", "in a Socratic style"}
)

var genFillers = []string{"please", "briefly", "quickly", "carefully", "now", "also", "really", "in detail", "for me"}

func (g *instructionGen) pick(list []string) string { return list[g.rng.IntN(len(list))] }

// Next returns the next instruction.
func (g *instructionGen) Next() string {
	var it genItem
	switch p := g.rng.Float64(); {
	case len(g.past) > 10 && p < 0.25:
		it = g.nearDuplicate(g.recall())
	case len(g.past) > 10 && p < 0.35:
		it = g.paraphrase(g.recall())
	default:
		it = g.fresh()
	}
	g.past = append(g.past, it)
	return it.text
}

// recall picks an earlier instruction, recent ones more often, as a model
// repeating itself within and across nearby batches does.
func (g *instructionGen) recall() genItem {
	n := len(g.past)
	if g.rng.IntN(2) == 0 {
		return g.past[n-1-g.rng.IntN(min(n, 50))]
	}
	return g.past[g.rng.IntN(n)]
}

func (g *instructionGen) fresh() genItem {
	if g.rng.IntN(2) == 0 {
		return g.freeForm()
	}
	group := g.rng.IntN(len(genTemplates))
	slots := map[string]string{}
	// Sorted names: map order is random, and the generator must not be.
	for _, name := range slices.Sorted(maps.Keys(genSlots)) {
		if name != "w" {
			slots[name] = g.pick(genSlots[name])
		}
	}
	slots["topic2"] = g.pick(genSlots["topic"])
	for i := 1; i <= 4; i++ {
		slots["w"+strconv.Itoa(i)] = g.pick(genSlots["w"])
	}
	slots["adj2"] = g.pick(genSlots["adj"])
	// Often a rare word, as generated data has a long tail.
	if g.rng.IntN(3) == 0 {
		slots["topic"] = slots["topic"] + " " + g.rareWord()
	}
	it := g.render(group*8+g.rng.IntN(len(genTemplates[group])), slots)
	for g.rng.IntN(3) != 0 {
		c := g.fill(genClauses[g.rng.IntN(len(genClauses))], slots)
		it.text += " " + c.text
		if g.rng.IntN(2) == 0 {
			break
		}
	}
	return it
}

// freeForm builds an instruction outside the templates. It keeps the
// group 0 template number so paraphrase and near-duplicate edits still
// apply to it, with its words as the only slot.
func (g *instructionGen) freeForm() genItem {
	text := g.pick(genVerbs) + " " + g.pick(genObjects) + " about " + g.pick(genSlots["topic"])
	if g.rng.IntN(2) == 0 {
		text += " " + g.pick(genQualifiers)
	}
	if g.rng.IntN(3) == 0 {
		text += " " + g.rareWord()
	}
	text += "."
	if g.rng.IntN(3) == 0 {
		text += " " + g.pick(genClauses)
		text = g.fill(text, map[string]string{
			"num": g.pick(genSlots["num"]), "adj": g.pick(genSlots["adj"]), "adj2": g.pick(genSlots["adj"]),
			"topic2": g.pick(genSlots["topic"]), "audience": g.pick(genSlots["audience"]), "concept": g.pick(genSlots["concept"]),
			"activity": g.pick(genSlots["activity"]), "place": g.pick(genSlots["place"]), "country": g.pick(genSlots["country"]),
			"dish": g.pick(genSlots["dish"]),
		}).text
	}
	return genItem{tmpl: -1, text: text}
}

func (g *instructionGen) rareWord() string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	var b strings.Builder
	for range 4 + g.rng.IntN(5) {
		b.WriteByte(letters[g.rng.IntN(len(letters))])
	}
	return b.String()
}

func (g *instructionGen) render(tmpl int, slots map[string]string) genItem {
	group, variant := tmpl/8, tmpl%8
	it := g.fill(genTemplates[group][variant], slots)
	it.tmpl = tmpl
	return it
}

func (g *instructionGen) fill(text string, slots map[string]string) genItem {
	for strings.Contains(text, "{") {
		i := strings.Index(text, "{")
		j := strings.Index(text[i:], "}") + i
		text = text[:i] + slots[text[i+1:j]] + text[j+1:]
	}
	return genItem{slots: slots, text: text}
}

func (g *instructionGen) paraphrase(it genItem) genItem {
	if it.tmpl < 0 {
		// A free-form paraphrase: same request, words reshuffled around it.
		words := strings.Fields(it.text)
		if len(words) > 4 {
			i := 1 + g.rng.IntN(len(words)-2)
			words[0] = g.pick([]string{"Please", "Could you", "I need you to", "Kindly"}) + " " + strings.ToLower(words[0])
			words = append(words[:i], words[i+1:]...)
		}
		return genItem{tmpl: -1, text: strings.Join(words, " ")}
	}
	group := it.tmpl / 8
	return g.render(group*8+g.rng.IntN(len(genTemplates[group])), it.slots)
}

func (g *instructionGen) nearDuplicate(it genItem) genItem {
	words := strings.Fields(it.text)
	for range 1 + g.rng.IntN(3) {
		if len(words) < 3 {
			break
		}
		i := g.rng.IntN(len(words))
		switch g.rng.IntN(6) {
		case 0: // drop a word
			words = append(words[:i], words[i+1:]...)
		case 1: // add a filler
			words = append(words[:i], append([]string{g.pick(genFillers)}, words[i:]...)...)
		case 2: // synonym
			if syn, ok := genSynonyms[strings.ToLower(strings.Trim(words[i], ".,?!"))]; ok {
				words[i] = g.pick(syn)
			} else {
				words[i] = strings.ToUpper(words[i])
			}
		case 3: // another slot value for the topic
			if it.tmpl < 0 {
				words[i] = g.pick(genSlots["topic"])
				continue
			}
			s := maps.Clone(it.slots)
			s["topic"] = g.pick(genSlots["topic"])
			return g.render(it.tmpl, s)
		case 4: // punctuation and case noise
			words[i] = strings.ToUpper(words[i][:1]) + words[i][1:] + g.pick([]string{",", "!", ":", ""})
		case 5: // number change
			words = append(words, "in "+g.pick(genSlots["num"])+" words")
		}
	}
	return genItem{tmpl: it.tmpl, slots: it.slots, text: strings.Join(words, " ")}
}

// generate returns n instructions from seed.
func generate(seed uint64, n int) []string { return take(n, newInstructionGen(seed).Next) }

// take returns the next n texts of a generator.
func take(n int, next func() string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = next()
	}
	return out
}

// paraphraseGen writes near-duplicate-heavy data, deterministically from a
// seed: every instruction is one of a few templates, its slots filled from
// short lists, then reworded by a few edits (synonyms, fillers, a dropped
// word, a politeness prefix, a constraint, two clauses swapped). Templates
// are drawn by a skewed distribution, so a handful dominate, as when a
// teacher model keeps returning to its favourite tasks: most instructions
// sit near hundreds of earlier ones, and the filter rejects most of them
// while the kept pool still grows.
type paraphraseGen struct {
	rng *rand.Rand
}

var paraTemplates = []string{
	"Write a {adj} poem about {topic} for {audience}.",
	"Explain how {topic} works to {audience} in simple words.",
	"Give me {num} tips for {activity}, and explain why each one helps.",
	"Summarize the following article about {topic} in {num} sentences.",
	"Write an email to {audience} about {topic}, in a {adj} tone.",
	"Create a {num}-day plan for {activity} that {audience} can follow.",
	"Compare {topic} and {topic2}, and say which matters more for {audience}.",
	"List {num} questions {audience} might ask about {topic}.",
	"Rewrite the paragraph below so that it sounds more {adj}.",
	"Describe a typical day of {audience} who is learning about {topic}.",
	"Write a short story about {topic}, with a {adj} ending.",
	"Suggest {num} names for a {adj} {business}.",
}

// paraSlots are shorter than genSlots: few values make many near-copies.
var paraSlots = map[string][]string{
	"adj":      {"funny", "formal", "friendly", "sad", "hopeful", "serious", "warm", "clear"},
	"topic":    {"the ocean", "climate change", "machine learning", "black holes", "inflation", "vaccines", "coffee", "chess", "the moon", "recycling", "jazz", "volcanoes"},
	"audience": {"a child", "students", "my grandmother", "engineers", "a beginner", "nurses"},
	"num":      {"3", "5", "7", "10", "three", "five"},
	"activity": {"public speaking", "saving money", "running", "cooking", "studying", "gardening"},
	"business": {"bakery", "bookstore", "coffee shop", "startup", "gym"},
}

var paraSynonyms = map[string][]string{
	"write": {"compose", "draft", "create"}, "explain": {"describe", "clarify"}, "give": {"provide", "offer"},
	"list": {"enumerate", "name"}, "short": {"brief", "little"}, "simple": {"easy", "plain"},
	"tips": {"suggestions", "ideas"}, "questions": {"queries"}, "suggest": {"propose", "recommend"},
	"typical": {"normal", "usual"}, "following": {"given", "next"}, "create": {"make", "design"},
	"about": {"on", "regarding"}, "plan": {"schedule", "program"}, "story": {"tale"},
}

var (
	paraPrefixes    = []string{"Please", "Could you", "Can you", "I would like you to", "Kindly", "Now"}
	paraFillers     = []string{"please", "really", "briefly", "clearly", "also", "carefully", "quickly"}
	paraConstraints = []string{"Keep it short.", "Use bullet points.", "Avoid jargon.", "Add a title.",
		"Answer in {num} parts.", "Make it {adj}.", "Mention {topic2} once."}
)

func newParaphraseGen(seed uint64) *paraphraseGen {
	return &paraphraseGen{rng: rand.New(rand.NewPCG(seed, seed^0xd1b54a32d192ed03))}
}

func (g *paraphraseGen) pick(list []string) string { return list[g.rng.IntN(len(list))] }

// Next returns the next instruction.
func (g *paraphraseGen) Next() string {
	// Template i with weight 1/(i+1): the first few dominate.
	var total float64
	for i := range paraTemplates {
		total += 1 / float64(i+1)
	}
	r, tmpl := g.rng.Float64()*total, 0
	for ; tmpl < len(paraTemplates)-1; tmpl++ {
		if r -= 1 / float64(tmpl+1); r < 0 {
			break
		}
	}
	fill := func(s string) string {
		for strings.Contains(s, "{") {
			i := strings.Index(s, "{")
			j := strings.Index(s[i:], "}") + i
			name := strings.TrimSuffix(s[i+1:j], "2")
			s = s[:i] + g.pick(paraSlots[name]) + s[j+1:]
		}
		return s
	}
	words := strings.Fields(fill(paraTemplates[tmpl]))
	for range g.rng.IntN(5) {
		i := g.rng.IntN(len(words))
		switch g.rng.IntN(6) {
		case 0: // synonym, keeping trailing punctuation
			w := strings.ToLower(strings.TrimRight(words[i], ".,?!"))
			if syn, ok := paraSynonyms[w]; ok {
				words[i] = g.pick(syn) + words[i][len(w):]
			}
		case 1: // filler
			words = slices.Insert(words, i, g.pick(paraFillers))
		case 2: // drop a word
			if len(words) > 5 {
				words = slices.Delete(words, i, i+1)
			}
		case 3: // politeness prefix
			words = append(strings.Fields(g.pick(paraPrefixes)), words...)
		case 4: // a constraint
			words = append(words, strings.Fields(fill(g.pick(paraConstraints)))...)
		case 5: // swap the halves around a comma
			s := strings.Join(words, " ")
			if a, b, ok := strings.Cut(s, ", "); ok {
				words = strings.Fields(b + " " + a)
			}
		}
	}
	return strings.Join(words, " ")
}

// paraphrases returns n near-duplicate-heavy instructions from seed.
func paraphrases(seed uint64, n int) []string { return take(n, newParaphraseGen(seed).Next) }
